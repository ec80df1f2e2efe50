package io.durablemq.broker.protocol;

import io.durablemq.broker.config.Limits;
import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.topic.TopicFilter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttConnectPayload;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttConnectVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.ScheduledFuture;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.durablemq.broker.protocol.ConnectionScope.LOG;
import static io.durablemq.broker.protocol.ConnectionScope.unsigned;
import static io.durablemq.broker.protocol.ConnectionScope.unwrap;

/**
 * CONNECT to CONNACK: the connect timeout, validating CONNECT and settling what it asks for
 * (client id, session expiry, receive maximum, packet size, keep-alive, will), authentication
 * ({@link #authenticate}), attaching the engine's session (which takes over an older connection
 * of the same client id), and the CONNACK. Reading is paused from CONNECT until the session is
 * attached; {@code afterConnected} then replays what arrived meanwhile.
 */
final class ConnectFlow {
    private static final String KEEP_ALIVE = "keep-alive";

    private final ConnectionScope scope;
    private final Limits limits;
    private final SessionListener listener;
    private final DisconnectFlow disconnects;
    private final Runnable afterConnected;
    private ScheduledFuture<?> connectTimer;
    /** MQTT 5 enhanced authentication (CONNECT named a method), else null; the CONNECT waiting for it. */
    private EnhancedAuth enhancedAuth;
    private AcceptedConnect pendingConnect;

    /** What a valid CONNECT settled, carried through the asynchronous authentication and session attach. */
    private record AcceptedConnect(MqttConnectMessage connect, boolean cleanStart, int clientReceiveMaximum,
                                   boolean assignedId, int keepAlive, int serverKeepAlive, long requestedExpiry) {
    }

    ConnectFlow(ConnectionScope scope, SessionListener listener, DisconnectFlow disconnects, Runnable afterConnected) {
        this.scope = scope;
        this.limits = scope.limits;
        this.listener = listener;
        this.disconnects = disconnects;
        this.afterConnected = afterConnected;
    }

    void startConnectTimer(ChannelHandlerContext ctx) {
        connectTimer = ctx.executor().schedule(this::connectTimedOut,
                limits.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    void cancelConnectTimer() {
        if (connectTimer != null) {
            connectTimer.cancel(false);
        }
    }

    private void connectTimedOut() {
        if (scope.state() == ConnectionState.AWAITING_CONNECT || scope.state() == ConnectionState.AUTHENTICATING) {
            LOG.info("connection from {}: no CONNECT (or no end of its AUTH exchange) within {} ms, closing",
                    scope.channel.remoteAddress(), limits.connectTimeout().toMillis());
            scope.context.metrics().protocolError("connect_timeout");
            scope.closeSilently();
        }
    }

    void receiveConnect(MqttConnectMessage connect) {
        connectTimer.cancel(false);
        MqttConnectVariableHeader header = connect.variableHeader();
        MqttConnectPayload payload = connect.payload();
        scope.protocolLevel = header.version();
        boolean v5 = scope.isV5();
        MqttProperties props = v5 ? header.properties() : MqttProperties.NO_PROPERTIES;
        boolean cleanStart = header.isCleanSession();

        if (scope.context.metrics().openConnections() > limits.maxConnections()) {
            refuseConnect(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_QUOTA_EXCEEDED
                    : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE, "max_connections",
                    "max_connections (" + limits.maxConnections() + ") reached");
            return;
        }
        String requestedId = payload.clientIdentifier();
        boolean assignedId = false;
        if (requestedId == null || requestedId.isEmpty()) {
            // 3.1.1 section 3.1.3-7/8: an empty id only with clean session; MQTT 5 always gets one assigned.
            if (!v5 && !cleanStart) {
                refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED, "client_id_rejected",
                        "empty client id with clean session 0");
                return;
            }
            scope.clientId = ClientIds.generate();
            assignedId = v5;
        } else if (requestedId.getBytes(StandardCharsets.UTF_8).length > limits.maxClientIdLength()) {
            scope.clientId = requestedId;
            refuseConnect(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_CLIENT_IDENTIFIER_NOT_VALID
                    : MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED, "client_id_rejected",
                    "client id longer than max_client_id_length " + limits.maxClientIdLength());
            return;
        } else {
            scope.clientId = requestedId;
        }

        long requestedExpiry;
        int clientReceiveMaximum = 65_535;
        if (v5) {
            requestedExpiry = unsigned(MqttProps.integer(props, MqttPropertyType.SESSION_EXPIRY_INTERVAL), 0);
            Integer receiveMax = MqttProps.integer(props, MqttPropertyType.RECEIVE_MAXIMUM);
            Integer maxPacket = MqttProps.integer(props, MqttPropertyType.MAXIMUM_PACKET_SIZE);
            if ((receiveMax != null && receiveMax == 0) || (maxPacket != null && maxPacket == 0)) {
                refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_PROTOCOL_ERROR, "protocol_error",
                        "receive maximum or maximum packet size of 0");
                return;
            }
            if (receiveMax != null) {
                clientReceiveMaximum = Math.min(receiveMax, 65_535);
            }
            if (maxPacket != null) {
                scope.clientMaxPacketSize = unsigned(maxPacket, Long.MAX_VALUE);
            }
            Integer problemInfo = MqttProps.integer(props, MqttPropertyType.REQUEST_PROBLEM_INFORMATION);
            scope.problemInformation = problemInfo == null || problemInfo != 0;
        } else {
            requestedExpiry = cleanStart ? 0 : ConnectRequest.NEVER_EXPIRES;
        }
        scope.sessionExpirySeconds = Math.min(requestedExpiry, limits.maxSessionExpirySeconds());

        if (header.isWillFlag()) {
            String willTopic = payload.willTopic();
            if (!TopicFilter.isValidTopicName(willTopic)) {
                refuseConnect(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_TOPIC_NAME_INVALID : null,
                        "will_topic_invalid", "invalid will topic '" + willTopic + "'");
                return;
            }
            MqttProperties willProps = v5 ? payload.willProperties() : MqttProperties.NO_PROPERTIES;
            long willDelay = v5 ? unsigned(MqttProps.integer(willProps, MqttPropertyType.WILL_DELAY_INTERVAL), 0) : 0;
            long willExpiry = v5 ? unsigned(MqttProps.integer(willProps, MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL), -1) : -1;
            byte[] willPayload = payload.willMessageInBytes() == null ? new byte[0] : payload.willMessageInBytes();
            disconnects.keepWill(new WillMessage(willTopic, willPayload, header.willQos(), header.isWillRetain(),
                    v5 ? MqttProps.forwarded(willProps) : MessageProperties.NONE, willExpiry, willDelay));
        }

        scope.username = header.hasUserName() ? payload.userName() : null;
        byte[] password = header.hasPassword() ? payload.passwordInBytes() : null;

        int keepAlive = header.keepAliveTimeSeconds();
        // MQTT 5 lets the server lower the keep-alive (Server Keep Alive); a 3.1.1 client keeps its own.
        int maxKeepAlive = limits.maxKeepAliveSeconds();
        int serverKeepAlive = keepAlive;
        if (v5 && (keepAlive == 0 ? maxKeepAlive < 65_535 : keepAlive > maxKeepAlive)) {
            serverKeepAlive = maxKeepAlive;
        }
        AcceptedConnect accepted = new AcceptedConnect(connect, cleanStart, clientReceiveMaximum, assignedId,
                keepAlive, serverKeepAlive, requestedExpiry);

        String authMethod = v5 ? MqttProps.string(props, MqttPropertyType.AUTHENTICATION_METHOD) : null;
        if (authMethod != null) {
            enhancedAuth = EnhancedAuth.forMethod(authMethod, scope.context.access(), scope.clientId);
            if (enhancedAuth == null) {
                refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_BAD_AUTHENTICATION_METHOD,
                        "bad_authentication_method", "authentication method '" + authMethod + "' is not supported");
                return;
            }
            pendingConnect = accepted;
            scope.moveTo(ConnectionState.AUTHENTICATING);
            // The exchange gets the connect timeout again, counted from CONNECT.
            connectTimer = scope.channel.eventLoop().schedule(this::connectTimedOut, limits.connectTimeout().toMillis(),
                    TimeUnit.MILLISECONDS);
            enhancedAuthStep(enhancedAuth.begin(props, scope.username));
            return;
        }
        // Reading pauses until the session is attached; packets already decoded are held by MqttConnection.
        scope.moveTo(ConnectionState.CONNECTING);
        scope.channel.config().setAutoRead(false);
        authenticate(accepted, password);
    }

    // ---------------------------------------------------------------- authentication

    /** Asks the configured authenticator (password file or plugin) about the CONNECT's user name and password. */
    private void authenticate(AcceptedConnect accepted, byte[] password) {
        CompletableFuture<Boolean> authenticated;
        try {
            authenticated = scope.context.access().authenticateAsync(scope.clientId, scope.username, password);
        } catch (RuntimeException e) {
            authenticated = CompletableFuture.failedFuture(e);
        }
        authenticated.whenCompleteAsync((ok, error) -> authenticated(accepted, ok, error), scope.onLoop);
    }

    private void authenticated(AcceptedConnect accepted, Boolean ok, Throwable error) {
        if (scope.state() != ConnectionState.CONNECTING) {
            return; // closed meanwhile
        }
        if (error != null || !Boolean.TRUE.equals(ok)) {
            if (error != null) {
                LOG.warn("authentication of client {} failed: {}", scope.clientId, unwrap(error).toString());
            }
            refuseConnect(scope.isV5() ? MqttConnectReturnCode.CONNECTION_REFUSED_BAD_USERNAME_OR_PASSWORD
                    : MqttConnectReturnCode.CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD, "bad_credentials",
                    "authentication failed for user " + (scope.username == null ? "(anonymous)" : "'" + scope.username + "'"));
            return;
        }
        attachSession(accepted);
    }

    // ---------------------------------------------------------------- session attach (and takeover) and CONNACK

    private void attachSession(AcceptedConnect accepted) {
        ConnectRequest request = new ConnectRequest(scope.clientId, accepted.cleanStart(), scope.sessionExpirySeconds,
                accepted.clientReceiveMaximum());
        CompletableFuture<SessionHandle> attached;
        try {
            // The engine closes an older session handle of the same client id first (its connection gets TAKEN_OVER).
            // The will is stored with the session in the CONNECT's commit (the engine sends it when due).
            attached = scope.context.engine().connect(request, listener, disconnects.storedWill());
        } catch (RuntimeException e) {
            attached = CompletableFuture.failedFuture(e);
        }
        attached.whenCompleteAsync((handle, e) -> sessionAttached(accepted, handle, e), scope.onLoop);
    }

    private void sessionAttached(AcceptedConnect accepted, SessionHandle handle, Throwable error) {
        MqttConnectMessage connect = accepted.connect();
        if (error != null) {
            LOG.warn("CONNECT of client {} failed in the engine: {}", scope.clientId, unwrap(error).toString());
            if (scope.state() == ConnectionState.CONNECTING) {
                refuseConnect(scope.isV5() ? MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE_5
                        : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE, "server_unavailable",
                        "session could not be attached");
            }
            return;
        }
        scope.session = handle;
        if (scope.state() != ConnectionState.CONNECTING) {
            // The socket closed (or broke the protocol) while the engine attached the session.
            disconnects.detachSession(-1);
            return;
        }
        scope.moveTo(ConnectionState.CONNECTED);
        int serverKeepAlive = accepted.serverKeepAlive();
        if (serverKeepAlive > 0) {
            long idleMillis = serverKeepAlive * 1500L;
            scope.channel.pipeline().addBefore(MqttConnection.NAME, KEEP_ALIVE,
                    new IdleStateHandler(idleMillis, 0, 0, TimeUnit.MILLISECONDS));
        }
        // MQTT 3.1 has no session-present flag: that CONNACK byte is reserved there.
        boolean sessionPresent = scope.protocolLevel >= 4 && handle.sessionPresent();
        scope.channel.writeAndFlush(Packets.connAck(MqttConnectReturnCode.CONNECTION_ACCEPTED, sessionPresent,
                        connAckProperties(accepted)))
                .addListener(f -> {
                    if (f.isSuccess() && scope.state() == ConnectionState.CONNECTED) {
                        try {
                            handle.startDelivery();
                        } catch (SessionClosedException e) {
                            LOG.debug("client {}: session closed before delivery started", scope.clientId);
                        }
                    }
                });
        LOG.debug("client {} connected from {} (MQTT level {}, clean start {}, session present {}, expiry {} s)",
                scope.clientId, scope.channel.remoteAddress(), scope.protocolLevel,
                connect.variableHeader().isCleanSession(), sessionPresent, scope.sessionExpirySeconds);
        scope.context.interceptors().connected(connect);
        scope.channel.config().setAutoRead(true);
        afterConnected.run();
    }

    /** MQTT 5 CONNACK properties: what the server assigned or lowered, and its own limits. */
    private MqttProperties connAckProperties(AcceptedConnect accepted) {
        if (!scope.isV5()) {
            return MqttProperties.NO_PROPERTIES;
        }
        MqttProperties props = new MqttProperties();
        if (accepted.assignedId()) {
            props.add(new MqttProperties.StringProperty(MqttPropertyType.ASSIGNED_CLIENT_IDENTIFIER.value(),
                    scope.clientId));
        }
        if (scope.sessionExpirySeconds != accepted.requestedExpiry()) {
            props.add(new MqttProperties.IntegerProperty(MqttPropertyType.SESSION_EXPIRY_INTERVAL.value(),
                    (int) scope.sessionExpirySeconds));
        }
        if (limits.receiveMaximum() < 65_535) {
            props.add(new MqttProperties.IntegerProperty(MqttPropertyType.RECEIVE_MAXIMUM.value(), limits.receiveMaximum()));
        }
        props.add(new MqttProperties.IntegerProperty(MqttPropertyType.MAXIMUM_PACKET_SIZE.value(), limits.maxPacketSize()));
        if (limits.topicAliasMaximum() > 0) {
            props.add(new MqttProperties.IntegerProperty(MqttPropertyType.TOPIC_ALIAS_MAXIMUM.value(),
                    limits.topicAliasMaximum()));
        }
        if (enhancedAuth != null) {
            enhancedAuth.addConnackProperties(props);
        }
        if (accepted.serverKeepAlive() != accepted.keepAlive()) {
            props.add(new MqttProperties.IntegerProperty(MqttPropertyType.SERVER_KEEP_ALIVE.value(),
                    accepted.serverKeepAlive()));
        }
        return props;
    }

    // ---------------------------------------------------------------- MQTT 5 enhanced authentication (AUTH)

    /** Before CONNACK of an enhanced authentication only AUTH and DISCONNECT may come (MQTT 5 section 4.12). */
    void receiveDuringAuthentication(MqttMessage packet) {
        MqttMessageType type = packet.fixedHeader().messageType();
        if (type == MqttMessageType.AUTH) {
            enhancedAuthStep(enhancedAuth.receive(packet));
        } else if (type == MqttMessageType.DISCONNECT) {
            scope.moveTo(ConnectionState.DISCONNECTING);
            scope.channel.close();
        } else {
            refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_PROTOCOL_ERROR, "protocol_error",
                    type + " before the authentication exchange ended");
        }
    }

    /** An AUTH after CONNACK: a re-authentication, allowed only on a connection that authenticated with a method. */
    void receiveAuth(MqttMessage packet) {
        if (enhancedAuth == null) {
            scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "AUTH without an authentication method in CONNECT");
        } else {
            enhancedAuthStep(enhancedAuth.receive(packet));
        }
    }

    /** Acts on one step of enhanced authentication: at CONNECT (state AUTHENTICATING) or a re-authentication. */
    private void enhancedAuthStep(EnhancedAuth.Step step) {
        boolean atConnect = scope.state() == ConnectionState.AUTHENTICATING;
        if (step.packet() != null) {
            scope.channel.writeAndFlush(step.packet());
        }
        if (step.failed() && atConnect) {
            refuseConnect(MqttConnectReturnCode.valueOf(step.reasonCode()), step.metricReason(), step.detail());
        } else if (step.failed() && step.reasonCode() == ReasonCodes.NOT_AUTHORIZED) {
            LOG.info("client {}: {}, disconnecting", scope.clientId, step.detail());
            scope.disconnectWith(step.reasonCode(), step.detail());
        } else if (step.failed()) {
            scope.protocolError(step.reasonCode(), step.detail());
        } else if (atConnect && step.connectedUser() != null) {
            connectTimer.cancel(false);
            scope.username = step.connectedUser();
            scope.moveTo(ConnectionState.CONNECTING);
            scope.channel.config().setAutoRead(false);
            authenticated(pendingConnect, true, null);
        }
    }

    /**
     * Answers a CONNECT with a failure CONNACK (null code: 3.1.1 has none for the case, just close),
     * half-closing so a client that already sent more packets still reads it ({@link GracefulClose}).
     */
    void refuseConnect(MqttConnectReturnCode code, String reason, String detail) {
        scope.context.metrics().connectRejected(reason);
        LOG.info("CONNECT of client {} from {} refused: {}", scope.clientId, scope.channel.remoteAddress(), detail);
        scope.moveTo(ConnectionState.DISCONNECTING);
        if (code == null) {
            scope.channel.close();
            return;
        }
        MqttProperties props = scope.isV5() && scope.problemInformation
                ? MqttProps.reasonString(detail) : MqttProperties.NO_PROPERTIES;
        GracefulClose.sendThenClose(scope.channel, Packets.connAck(code, false, props));
    }
}
