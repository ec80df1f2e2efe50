package io.durablemq.broker.protocol;

import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.session.SessionListener.CloseReason;
import io.durablemq.engine.session.WillAtEnd;
import io.durablemq.engine.will.StoredWill;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;

import java.util.Locale;
import java.util.concurrent.CompletableFuture;

import static io.durablemq.broker.protocol.ConnectionScope.LOG;
import static io.durablemq.broker.protocol.ConnectionScope.unsigned;
import static io.durablemq.broker.protocol.ConnectionScope.unwrap;

/**
 * The end of a connection: the client's DISCONNECT (with an MQTT 5 session expiry change), the
 * engine closing the session (takeover, engine closed or reset), the socket closing for any
 * reason, and what follows: the interceptors' events, and detaching the session from the engine
 * exactly once, telling it what the end means for the will it stores (see {@code WillAtEnd}).
 */
final class DisconnectFlow {
    private final ConnectionScope scope;
    private WillMessage will;
    /** Set by an MQTT 5 DISCONNECT that changes the session expiry; -1 when unchanged. */
    private long disconnectExpirySeconds = -1;
    private boolean sessionDetached;
    private boolean disconnectedNormally;

    DisconnectFlow(ConnectionScope scope) {
        this.scope = scope;
    }

    /** The CONNECT's will, sent if the connection ends without a normal DISCONNECT. */
    void keepWill(WillMessage will) {
        this.will = will;
    }

    /** The CONNECT's will as the engine stores it with the session, or null. */
    StoredWill storedWill() {
        return will == null ? null : will.toStored(scope.username);
    }

    void receiveDisconnect(MqttMessage disconnect) {
        byte reason = ReasonCodes.SUCCESS;
        if (scope.isV5() && disconnect.variableHeader() instanceof MqttReasonCodeAndPropertiesVariableHeader header) {
            reason = header.reasonCode();
            Integer expiry = MqttProps.integer(header.properties(), MqttPropertyType.SESSION_EXPIRY_INTERVAL);
            if (expiry != null) {
                long requested = unsigned(expiry, 0);
                if (scope.sessionExpirySeconds == 0 && requested > 0) {
                    scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "DISCONNECT sets a session expiry after CONNECT had 0");
                    return;
                }
                disconnectExpirySeconds = Math.min(requested, scope.limits.maxSessionExpirySeconds());
            }
        }
        if (reason != ReasonCodes.DISCONNECT_WITH_WILL) {
            will = null;
        }
        disconnectedNormally = true;
        scope.context.interceptors().disconnected(scope.clientId, scope.username);
        detachSession(disconnectExpirySeconds);
        scope.closeSilently();
    }

    /** The engine closed this connection's session (on any thread): tell an MQTT 5 client why, then close. */
    void sessionClosed(CloseReason reason) {
        if (scope.state() == ConnectionState.CLOSED) {
            return;
        }
        sessionDetached = true; // the handle is no longer this connection's
        byte code = switch (reason) {
            case TAKEN_OVER -> ReasonCodes.SESSION_TAKEN_OVER;
            case ENGINE_CLOSED -> ReasonCodes.SERVER_SHUTTING_DOWN;
            case ENGINE_RESET -> ReasonCodes.UNSPECIFIED_ERROR;
        };
        LOG.info("closing connection of client {} from {}: session {}", scope.clientId, scope.channel.remoteAddress(),
                reason.name().toLowerCase(Locale.ROOT).replace('_', ' '));
        scope.disconnectWith(code, "session " + reason.name().toLowerCase(Locale.ROOT));
    }

    /** The socket of a connected client closed, for whatever reason: will, interceptors, session detach. */
    void connectionEnded() {
        if (!disconnectedNormally) {
            scope.context.interceptors().connectionLost(scope.clientId, scope.username);
        }
        // The will is the engine's: the detach below records the end (it sends the will when due; a
        // takeover's new CONNECT settles it), and a stopping broker leaves it to count from the restart.
        if (!sessionDetached) {
            detachSession(-1);
        }
    }

    /** Hands the session back to the engine once; {@code expirySeconds} -1 keeps the CONNECT's expiry. */
    void detachSession(long expirySeconds) {
        if (sessionDetached || scope.session == null) {
            return;
        }
        sessionDetached = true;
        try {
            CompletableFuture<Void> done = scope.session.disconnect(expirySeconds, will == null ? WillAtEnd.DELETE
                    : scope.context.isShuttingDown() ? WillAtEnd.UNTIL_RESTART : WillAtEnd.DUE);
            scope.context.trackDetach(done);
            done.whenComplete((v, error) -> {
                if (error != null && !(unwrap(error) instanceof SessionClosedException)) {
                    LOG.warn("detaching the session of client {} failed: {}", scope.clientId, unwrap(error).toString());
                }
            });
        } catch (SessionClosedException e) {
            LOG.debug("client {}: session already closed at disconnect", scope.clientId);
        }
    }
}
