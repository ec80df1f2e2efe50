package io.durablemq.broker.protocol;

import io.durablemq.broker.security.AccessControl;
import io.durablemq.broker.security.scram.ScramCredentialStore;
import io.durablemq.broker.security.scram.ScramServer;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;

/**
 * MQTT 5 enhanced authentication (spec section 4.12) of one connection, with the one method
 * the broker offers, {@value #SCRAM_SHA_256}, checked against the password file's SCRAM entries.
 * <p>
 * At CONNECT: the client's Authentication Data is the SCRAM client-first message; the server
 * answers AUTH 0x18 (continue) with server-first; the client's AUTH 0x18 carries client-final;
 * on a valid proof the CONNACK (0x00) carries the server-final message ({@code v=}) so the client
 * can check the server too, and on any failure CONNACK 0x87 (not authorized).
 * Re-authentication (4.12.1): a connected client sends AUTH 0x19 with the same method and a new
 * client-first; the same exchange follows and ends with AUTH 0x00 carrying server-final, or with
 * DISCONNECT 0x87. The user may not change. An AUTH with another method ends the connection with
 * 0x8C (bad authentication method); AUTH packets out of order are protocol errors (0x82).
 * <p>
 * Runs on the connection's event loop: the server side of SCRAM is a few HMACs (the costly
 * PBKDF2 is the client's), so nothing is handed off. The connection bounds the exchange at
 * CONNECT with {@code connect_timeout_seconds}.
 */
final class EnhancedAuth {
    static final String SCRAM_SHA_256 = "SCRAM-SHA-256";
    static final byte CONTINUE_AUTHENTICATION = 0x18;
    static final byte RE_AUTHENTICATE = 0x19;

    /** What the connection does next: send {@code packet} if any; then fail with {@code reasonCode}, or go on. */
    record Step(MqttMessage packet, String connectedUser, byte reasonCode, String metricReason, String detail) {
        static Step send(MqttMessage packet) {
            return new Step(packet, null, ReasonCodes.SUCCESS, null, null);
        }

        static Step fail(byte reasonCode, String metricReason, String detail) {
            return new Step(null, null, reasonCode, metricReason, detail);
        }

        boolean failed() {
            return reasonCode != ReasonCodes.SUCCESS;
        }
    }

    private final String method;
    private final ScramCredentialStore store;
    private final AccessControl access;
    private final String clientId;
    /** The authenticated user once the CONNECT exchange succeeded; null before. */
    private String user;
    /** The exchange in progress (at CONNECT or a re-authentication), null between exchanges. */
    private ScramServer exchange;
    private byte[] connackData;
    /** CONNECT's User Name, when given: the SCRAM user must be the same. */
    private String expectedUser;

    private EnhancedAuth(String method, ScramCredentialStore store, AccessControl access, String clientId) {
        this.method = method;
        this.store = store;
        this.access = access;
        this.clientId = clientId;
    }

    /** The exchange for a CONNECT's Authentication Method, or null when that method is not offered (CONNACK 0x8C). */
    static EnhancedAuth forMethod(String method, AccessControl access, String clientId) {
        ScramCredentialStore store = access.scramCredentials();
        return SCRAM_SHA_256.equals(method) && store != null ? new EnhancedAuth(method, store, access, clientId) : null;
    }

    /** Starts the exchange with the CONNECT's Authentication Data; {@code connectUser} is CONNECT's User Name or null. */
    Step begin(MqttProperties connectProperties, String connectUser) {
        expectedUser = connectUser;
        exchange = new ScramServer(store);
        return answer(exchange.clientFirst(MqttProps.binary(connectProperties, MqttPropertyType.AUTHENTICATION_DATA)));
    }

    /** An AUTH packet from the client. */
    Step receive(MqttMessage packet) {
        if (!(packet.variableHeader() instanceof MqttReasonCodeAndPropertiesVariableHeader header)) {
            return protocolError("AUTH without reason code");
        }
        MqttProperties props = header.properties();
        String packetMethod = MqttProps.string(props, MqttPropertyType.AUTHENTICATION_METHOD);
        if (packetMethod == null) {
            return protocolError("AUTH without an Authentication Method");
        }
        if (!packetMethod.equals(method)) {
            return Step.fail(ReasonCodes.BAD_AUTHENTICATION_METHOD, "bad_authentication_method",
                    "AUTH with method '" + packetMethod + "', the connection authenticated with '" + method + "'");
        }
        byte[] data = MqttProps.binary(props, MqttPropertyType.AUTHENTICATION_DATA);
        byte code = header.reasonCode();
        if (code == CONTINUE_AUTHENTICATION) {
            if (exchange == null || exchange.state() != ScramServer.State.AWAITING_CLIENT_FINAL) {
                return protocolError("AUTH 0x18 (continue) while no authentication exchange waits for it");
            }
            return answer(exchange.clientFinal(data));
        }
        if (code == RE_AUTHENTICATE) {
            if (user == null) {
                return protocolError("AUTH 0x19 (re-authenticate) before CONNACK");
            }
            if (exchange != null) {
                return protocolError("AUTH 0x19 (re-authenticate) while a re-authentication is in progress");
            }
            exchange = new ScramServer(store);
            return answer(exchange.clientFirst(data));
        }
        return protocolError("AUTH reason code 0x" + Integer.toHexString(code & 0xFF) + " is not sent by clients");
    }

    /** Adds Authentication Method and Data (the server-final message) to the CONNACK of a successful exchange. */
    void addConnackProperties(MqttProperties props) {
        props.add(new MqttProperties.StringProperty(MqttPropertyType.AUTHENTICATION_METHOD.value(), method));
        if (connackData != null) {
            props.add(new MqttProperties.BinaryProperty(MqttPropertyType.AUTHENTICATION_DATA.value(), connackData));
        }
    }

    private Step answer(ScramServer.Result result) {
        boolean reauthentication = user != null;
        if (result instanceof ScramServer.Challenge challenge) {
            return Step.send(auth(CONTINUE_AUTHENTICATION, challenge.serverFirst()));
        }
        exchange = null;
        if (result instanceof ScramServer.Failure failure) {
            AccessControl.Failure kind = switch (failure.kind()) {
                case UNKNOWN_USER -> AccessControl.Failure.UNKNOWN_USER;
                case BAD_PROOF -> AccessControl.Failure.BAD_PASSWORD;
                case MALFORMED -> AccessControl.Failure.REJECTED;
            };
            access.enhancedAuthFailed(kind, clientId, failure.user(), SCRAM_SHA_256
                    + (reauthentication ? " re-authentication: " : ": ") + failure.detail());
            // The client learns only that it failed, not whether the user exists.
            String told = failure.kind() == ScramServer.FailureKind.MALFORMED
                    ? SCRAM_SHA_256 + ": " + failure.detail() : SCRAM_SHA_256 + " authentication failed";
            return Step.fail(ReasonCodes.NOT_AUTHORIZED, "bad_credentials", told);
        }
        ScramServer.Success success = (ScramServer.Success) result;
        if (reauthentication) {
            if (!success.user().equals(user)) {
                access.enhancedAuthFailed(AccessControl.Failure.REJECTED, clientId, success.user(),
                        "re-authentication as another user than '" + user + "'");
                return Step.fail(ReasonCodes.NOT_AUTHORIZED, "bad_credentials", "re-authentication may not change the user");
            }
            return Step.send(auth(ReasonCodes.SUCCESS, success.serverFinal()));
        }
        if (expectedUser != null && !expectedUser.equals(success.user())) {
            access.enhancedAuthFailed(AccessControl.Failure.REJECTED, clientId, success.user(),
                    "CONNECT's User Name '" + expectedUser + "' differs from the SCRAM user");
            return Step.fail(ReasonCodes.NOT_AUTHORIZED, "bad_credentials",
                    "User Name differs from the " + SCRAM_SHA_256 + " user");
        }
        user = success.user();
        connackData = success.serverFinal();
        return new Step(null, user, ReasonCodes.SUCCESS, null, null);
    }

    private Step protocolError(String detail) {
        exchange = null;
        return Step.fail(ReasonCodes.PROTOCOL_ERROR, "protocol_error", detail);
    }

    private MqttMessage auth(byte reasonCode, byte[] data) {
        MqttProperties props = new MqttProperties();
        props.add(new MqttProperties.StringProperty(MqttPropertyType.AUTHENTICATION_METHOD.value(), method));
        props.add(new MqttProperties.BinaryProperty(MqttPropertyType.AUTHENTICATION_DATA.value(), data));
        return Packets.auth(reasonCode, props);
    }
}
