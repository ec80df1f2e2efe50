package io.durablemq.broker.protocol;

import java.util.EnumSet;
import java.util.Set;

/**
 * The life of one MQTT connection. Every change goes through {@link #canMoveTo}, so the
 * allowed transitions are written down in one place.
 */
public enum ConnectionState {
    /** Socket open, no CONNECT yet (bounded by the connect timeout). */
    AWAITING_CONNECT,
    /** MQTT 5 enhanced authentication: CONNECT named a method, AUTH packets are exchanged before CONNACK (bounded by the connect timeout). */
    AUTHENTICATING,
    /** CONNECT accepted by the protocol layer; the engine is attaching the session. Reading is paused. */
    CONNECTING,
    /** CONNACK sent; packets flow both ways. */
    CONNECTED,
    /** The connection is ending (DISCONNECT, protocol error, takeover, shutdown); nothing new is processed. */
    DISCONNECTING,
    /** The socket is closed. */
    CLOSED;

    private Set<ConnectionState> next() {
        return switch (this) {
            case AWAITING_CONNECT -> EnumSet.of(AUTHENTICATING, CONNECTING, DISCONNECTING, CLOSED);
            case AUTHENTICATING -> EnumSet.of(CONNECTING, DISCONNECTING, CLOSED);
            case CONNECTING -> EnumSet.of(CONNECTED, DISCONNECTING, CLOSED);
            case CONNECTED -> EnumSet.of(DISCONNECTING, CLOSED);
            case DISCONNECTING -> EnumSet.of(CLOSED);
            case CLOSED -> EnumSet.noneOf(ConnectionState.class);
        };
    }

    public boolean canMoveTo(ConnectionState target) {
        return next().contains(target);
    }
}
