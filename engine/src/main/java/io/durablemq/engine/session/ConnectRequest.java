package io.durablemq.engine.session;

import java.util.Objects;

/**
 * What a CONNECT asks of the engine.
 *
 * @param clientId              non-empty client identifier (the adapter assigns one if needed)
 * @param cleanStart            discard any existing session first
 * @param sessionExpirySeconds  how long the session outlives the connection; 0 = ends with it,
 *                              {@link #NEVER_EXPIRES} = kept until a clean start (3.1.1 persistent)
 * @param receiveMaximum        the client's limit on unacknowledged QoS 1/2 PUBLISHes it receives
 */
public record ConnectRequest(String clientId, boolean cleanStart, long sessionExpirySeconds, int receiveMaximum) {
    public static final long NEVER_EXPIRES = 0xFFFF_FFFFL;

    public ConnectRequest {
        Objects.requireNonNull(clientId, "clientId");
        if (clientId.isEmpty()) {
            throw new IllegalArgumentException("clientId must not be empty");
        }
        if (sessionExpirySeconds < 0 || sessionExpirySeconds > NEVER_EXPIRES) {
            throw new IllegalArgumentException("sessionExpirySeconds out of range: " + sessionExpirySeconds);
        }
        if (receiveMaximum < 1 || receiveMaximum > 65_535) {
            throw new IllegalArgumentException("receiveMaximum must be 1..65535: " + receiveMaximum);
        }
    }

    /** An MQTT 3.1.1 style connect: clean session false means a session that never expires. */
    public static ConnectRequest v3(String clientId, boolean cleanSession) {
        return new ConnectRequest(clientId, cleanSession, cleanSession ? 0 : NEVER_EXPIRES, 65_535);
    }
}
