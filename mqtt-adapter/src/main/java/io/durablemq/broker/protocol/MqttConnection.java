package io.durablemq.broker.protocol;

import io.durablemq.broker.FatalErrors;
import io.durablemq.broker.config.Limits;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.topic.SubscribeResult;
import io.durablemq.engine.topic.Subscription;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.topic.TopicFilter;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttConnectPayload;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttConnectVariableHeader;
import io.netty.handler.codec.mqtt.MqttIdentifierRejectedException;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttSubscribeMessage;
import io.netty.handler.codec.mqtt.MqttSubscriptionOption;
import io.netty.handler.codec.mqtt.MqttTopicSubscription;
import io.netty.handler.codec.mqtt.MqttUnacceptableProtocolVersionException;
import io.netty.handler.codec.mqtt.MqttUnsubscribeMessage;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The MQTT protocol for one network connection (3.1, 3.1.1 and 5.0), the last handler of the
 * pipeline after Netty's MQTT codec. Everything here runs on the channel's event loop; the
 * engine's callbacks and future completions are handed back to it. An acknowledgement is
 * written only when the engine's future for it has completed, i.e. when what it promises is
 * durable. The connection's life is {@link ConnectionState}; see mqtt-adapter/README.md.
 */
public final class MqttConnection extends ChannelInboundHandlerAdapter implements SessionListener {
    private static final Logger LOG = LoggerFactory.getLogger(MqttConnection.class);
    public static final String NAME = "mqtt-connection";
    private static final String KEEP_ALIVE = "keep-alive";
    private static final int MQTT_5 = 5;

    private final ProtocolContext context;
    private final Limits limits;
    private Channel channel;
    private ConnectionState state = ConnectionState.AWAITING_CONNECT;
    /** Packets that arrived after CONNECT while the engine attached the session (reading is paused meanwhile). */
    private final ArrayDeque<MqttMessage> heldWhileConnecting = new ArrayDeque<>();
    private ScheduledFuture<?> connectTimer;

    private int protocolLevel;
    private String clientId;
    private String username;
    private WillMessage will;
    private long sessionExpirySeconds;
    /** Set by an MQTT 5 DISCONNECT that changes the session expiry; -1 when unchanged. */
    private long disconnectExpirySeconds = -1;
    private long clientMaxPacketSize = Long.MAX_VALUE;
    private boolean problemInformation = true;
    private TopicAliases topicAliases;
    private SessionHandle session;

    /** Inbound QoS 1/2 packet ids not finished yet (PUBACK, or PUBCOMP for QoS 2): MQTT 5 receive maximum. */
    private final Set<Integer> inboundUnfinished = new HashSet<>();
    /** Topics of outbound QoS 1/2 messages awaiting the client's ack, for the interceptors' acknowledged event. */
    private final Map<Integer, String> outboundTopics = new HashMap<>();

    /**
     * Runs engine completions and callbacks on this connection's event loop. Never throws: the
     * caller may be the engine's committer thread, and a loop already shut down (broker stopping)
     * only means there is no connection left to write to.
     */
    private final java.util.concurrent.Executor onLoop = task -> {
        try {
            channel.eventLoop().execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            LOG.debug("event loop gone, dropping a task for client {}", clientId);
        }
    };

    private boolean sessionDetached;
    private boolean disconnectedNormally;
    private boolean takenOver;

    /**
     * Sockets accepted past {@code max_connections} that still get an answer to their CONNECT
     * (CONNACK quota exceeded / server unavailable); beyond this grace a socket is closed at accept.
     */
    static int acceptGrace(int maxConnections) {
        return Math.max(16, maxConnections / 10);
    }

    private static final LogThrottle ACCEPT_REFUSAL_LOG = new LogThrottle(10_000);

    public MqttConnection(ProtocolContext context) {
        this.context = context;
        this.limits = context.limits();
    }

    // ---------------------------------------------------------------- channel events

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        channel = ctx.channel();
        context.channels().add(channel);
        context.metrics().connectionOpened();
        if (context.metrics().openConnections() > limits.maxConnections() + acceptGrace(limits.maxConnections())) {
            // Far past the limit: close at once rather than hold a socket for a CONNACK (a flood of idle sockets
            // would otherwise pile up for connect_timeout_seconds). Counted always, logged at most every 10 s.
            state = ConnectionState.CLOSED;
            context.metrics().connectRejected("max_connections");
            if (ACCEPT_REFUSAL_LOG.tryAcquire()) {
                LOG.warn("refusing connections at accept: {} open, max_connections {} (logged at most every 10 s)",
                        context.metrics().openConnections(), limits.maxConnections());
            }
            ctx.close();
            super.channelActive(ctx);
            return;
        }
        connectTimer = ctx.executor().schedule(this::connectTimedOut,
                limits.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof MqttMessage packet)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (packet.decoderResult().isFailure()) {
            ReferenceCountUtil.release(packet);
            malformed(packet.decoderResult().cause());
            return;
        }
        switch (state) {
            case AWAITING_CONNECT -> {
                try {
                    if (packet.fixedHeader().messageType() == MqttMessageType.CONNECT) {
                        receiveConnect((MqttConnectMessage) packet);
                    } else {
                        protocolError(ReasonCodes.PROTOCOL_ERROR,
                                "first packet is " + packet.fixedHeader().messageType() + ", not CONNECT");
                    }
                } finally {
                    ReferenceCountUtil.release(packet);
                }
            }
            case CONNECTING -> heldWhileConnecting.add(packet);
            case CONNECTED -> {
                try {
                    dispatch(packet);
                } finally {
                    ReferenceCountUtil.release(packet);
                }
            }
            default -> ReferenceCountUtil.release(packet);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            LOG.info("client {} from {}: no packet within 1.5 x keep-alive, closing", clientId, channel.remoteAddress());
            context.metrics().protocolError("keep_alive_timeout");
            disconnectWith(ReasonCodes.KEEP_ALIVE_TIMEOUT, "keep-alive timeout");
        } else if (evt == ProtocolContext.ShutdownEvent.INSTANCE) {
            disconnectWith(ReasonCodes.SERVER_SHUTTING_DOWN, "server shutting down");
        } else {
            super.userEventTriggered(ctx, evt);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        state = ConnectionState.CLOSED;
        context.metrics().connectionClosed();
        if (connectTimer != null) {
            connectTimer.cancel(false);
        }
        heldWhileConnecting.forEach(ReferenceCountUtil::release);
        heldWhileConnecting.clear();
        if (session != null) {
            connectionEnded();
        }
        super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof VirtualMachineError fatal) {
            // Never "closing this connection" and going on: after an OutOfMemoryError the heap,
            // and any state half-changed when it hit, cannot be trusted. The store makes a
            // restart safe; FatalErrors ends the process (ops/README.md, "Out of memory").
            FatalErrors.handle("connection from " + ctx.channel().remoteAddress() + " (client " + clientId + ")", fatal);
            return;
        }
        if (cause instanceof IOException) {
            LOG.debug("connection from {} (client {}) failed: {}", ctx.channel().remoteAddress(), clientId, cause.toString());
        } else {
            LOG.warn("connection from {} (client {}) failed, closing: {}", ctx.channel().remoteAddress(), clientId,
                    cause.toString());
        }
        ctx.close();
    }

    // ---------------------------------------------------------------- state

    private boolean moveTo(ConnectionState target) {
        if (!state.canMoveTo(target)) {
            return false;
        }
        state = target;
        return true;
    }

    private boolean isV5() {
        return protocolLevel == MQTT_5;
    }

    // ---------------------------------------------------------------- CONNECT

    private void connectTimedOut() {
        if (state == ConnectionState.AWAITING_CONNECT) {
            LOG.info("connection from {}: no CONNECT within {} ms, closing", channel.remoteAddress(),
                    limits.connectTimeout().toMillis());
            context.metrics().protocolError("connect_timeout");
            moveTo(ConnectionState.DISCONNECTING);
            channel.close();
        }
    }

    private void receiveConnect(MqttConnectMessage connect) {
        connectTimer.cancel(false);
        MqttConnectVariableHeader header = connect.variableHeader();
        MqttConnectPayload payload = connect.payload();
        protocolLevel = header.version();
        boolean v5 = isV5();
        MqttProperties props = v5 ? header.properties() : MqttProperties.NO_PROPERTIES;
        boolean cleanStart = header.isCleanSession();

        if (context.metrics().openConnections() > limits.maxConnections()) {
            refuseConnect(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_QUOTA_EXCEEDED
                    : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE, "max_connections",
                    "max_connections (" + limits.maxConnections() + ") reached");
            return;
        }
        if (v5 && MqttProps.string(props, MqttPropertyType.AUTHENTICATION_METHOD) != null) {
            refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_BAD_AUTHENTICATION_METHOD,
                    "bad_authentication_method", "enhanced authentication is not supported");
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
            clientId = ClientIds.generate();
            assignedId = v5;
        } else if (requestedId.getBytes(StandardCharsets.UTF_8).length > limits.maxClientIdLength()) {
            clientId = requestedId;
            refuseConnect(v5 ? MqttConnectReturnCode.CONNECTION_REFUSED_CLIENT_IDENTIFIER_NOT_VALID
                    : MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED, "client_id_rejected",
                    "client id longer than max_client_id_length " + limits.maxClientIdLength());
            return;
        } else {
            clientId = requestedId;
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
                clientMaxPacketSize = unsigned(maxPacket, Long.MAX_VALUE);
            }
            Integer problemInfo = MqttProps.integer(props, MqttPropertyType.REQUEST_PROBLEM_INFORMATION);
            problemInformation = problemInfo == null || problemInfo != 0;
            if (limits.topicAliasMaximum() > 0) {
                topicAliases = new TopicAliases(limits.topicAliasMaximum());
            }
        } else {
            requestedExpiry = cleanStart ? 0 : ConnectRequest.NEVER_EXPIRES;
        }
        sessionExpirySeconds = Math.min(requestedExpiry, limits.maxSessionExpirySeconds());

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
            will = new WillMessage(willTopic, willPayload, header.willQos(), header.isWillRetain(),
                    v5 ? MqttProps.forwarded(willProps) : MessageProperties.NONE, willExpiry, willDelay);
        }

        username = header.hasUserName() ? payload.userName() : null;
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

        // Reading pauses until the session is attached; packets already decoded wait in heldWhileConnecting.
        moveTo(ConnectionState.CONNECTING);
        channel.config().setAutoRead(false);
        CompletableFuture<Boolean> authenticated;
        try {
            authenticated = context.access().authenticateAsync(clientId, username, password);
        } catch (RuntimeException e) {
            authenticated = CompletableFuture.failedFuture(e);
        }
        authenticated.whenCompleteAsync((ok, error) -> authenticated(accepted, ok, error), onLoop);
    }

    /** What a valid CONNECT settled, carried through the asynchronous authentication and session attach. */
    private record AcceptedConnect(MqttConnectMessage connect, boolean cleanStart, int clientReceiveMaximum,
                                   boolean assignedId, int keepAlive, int serverKeepAlive, long requestedExpiry) {
    }

    private void authenticated(AcceptedConnect accepted, Boolean ok, Throwable error) {
        if (state != ConnectionState.CONNECTING) {
            return; // closed meanwhile
        }
        if (error != null || !Boolean.TRUE.equals(ok)) {
            if (error != null) {
                LOG.warn("authentication of client {} failed: {}", clientId, unwrap(error).toString());
            }
            refuseConnect(isV5() ? MqttConnectReturnCode.CONNECTION_REFUSED_BAD_USERNAME_OR_PASSWORD
                    : MqttConnectReturnCode.CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD, "bad_credentials",
                    "authentication failed for user " + (username == null ? "(anonymous)" : "'" + username + "'"));
            return;
        }
        context.wills().clientConnected(clientId, accepted.cleanStart());
        ConnectRequest request = new ConnectRequest(clientId, accepted.cleanStart(), sessionExpirySeconds,
                accepted.clientReceiveMaximum());
        CompletableFuture<SessionHandle> attached;
        try {
            attached = context.engine().connect(request, this);
        } catch (RuntimeException e) {
            attached = CompletableFuture.failedFuture(e);
        }
        attached.whenCompleteAsync((handle, e) -> sessionAttached(accepted, handle, e), onLoop);
    }

    private void sessionAttached(AcceptedConnect accepted, SessionHandle handle, Throwable error) {
        MqttConnectMessage connect = accepted.connect();
        int keepAlive = accepted.keepAlive();
        int serverKeepAlive = accepted.serverKeepAlive();
        if (error != null) {
            LOG.warn("CONNECT of client {} failed in the engine: {}", clientId, unwrap(error).toString());
            if (state == ConnectionState.CONNECTING) {
                refuseConnect(isV5() ? MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE_5
                        : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE, "server_unavailable",
                        "session could not be attached");
            }
            return;
        }
        session = handle;
        if (state != ConnectionState.CONNECTING) {
            // The socket closed (or broke the protocol) while the engine attached the session.
            detachSession(-1);
            return;
        }
        moveTo(ConnectionState.CONNECTED);
        if (serverKeepAlive > 0) {
            long idleMillis = serverKeepAlive * 1500L;
            channel.pipeline().addBefore(NAME, KEEP_ALIVE, new IdleStateHandler(idleMillis, 0, 0, TimeUnit.MILLISECONDS));
        }
        MqttProperties props = MqttProperties.NO_PROPERTIES;
        if (isV5()) {
            props = new MqttProperties();
            if (accepted.assignedId()) {
                props.add(new MqttProperties.StringProperty(MqttPropertyType.ASSIGNED_CLIENT_IDENTIFIER.value(), clientId));
            }
            if (sessionExpirySeconds != accepted.requestedExpiry()) {
                props.add(new MqttProperties.IntegerProperty(MqttPropertyType.SESSION_EXPIRY_INTERVAL.value(),
                        (int) sessionExpirySeconds));
            }
            if (limits.receiveMaximum() < 65_535) {
                props.add(new MqttProperties.IntegerProperty(MqttPropertyType.RECEIVE_MAXIMUM.value(), limits.receiveMaximum()));
            }
            props.add(new MqttProperties.IntegerProperty(MqttPropertyType.MAXIMUM_PACKET_SIZE.value(), limits.maxPacketSize()));
            if (limits.topicAliasMaximum() > 0) {
                props.add(new MqttProperties.IntegerProperty(MqttPropertyType.TOPIC_ALIAS_MAXIMUM.value(),
                        limits.topicAliasMaximum()));
            }
            if (serverKeepAlive != keepAlive) {
                props.add(new MqttProperties.IntegerProperty(MqttPropertyType.SERVER_KEEP_ALIVE.value(), serverKeepAlive));
            }
        }
        // MQTT 3.1 has no session-present flag: that CONNACK byte is reserved there.
        boolean sessionPresent = protocolLevel >= 4 && handle.sessionPresent();
        channel.writeAndFlush(Packets.connAck(MqttConnectReturnCode.CONNECTION_ACCEPTED, sessionPresent, props))
                .addListener(f -> {
                    if (f.isSuccess() && state == ConnectionState.CONNECTED) {
                        try {
                            handle.startDelivery();
                        } catch (SessionClosedException e) {
                            LOG.debug("client {}: session closed before delivery started", clientId);
                        }
                    }
                });
        LOG.debug("client {} connected from {} (MQTT level {}, clean start {}, session present {}, expiry {} s)",
                clientId, channel.remoteAddress(), protocolLevel, connect.variableHeader().isCleanSession(),
                sessionPresent, sessionExpirySeconds);
        context.interceptors().connected(connect);
        channel.config().setAutoRead(true);
        while (!heldWhileConnecting.isEmpty()) {
            MqttMessage held = heldWhileConnecting.poll();
            try {
                if (state == ConnectionState.CONNECTED) {
                    dispatch(held);
                }
            } finally {
                ReferenceCountUtil.release(held);
            }
        }
    }

    /** Answers a CONNECT with a failure CONNACK (null code: 3.1.1 has none for the case, just close). */
    private void refuseConnect(MqttConnectReturnCode code, String reason, String detail) {
        context.metrics().connectRejected(reason);
        LOG.info("CONNECT of client {} from {} refused: {}", clientId, channel.remoteAddress(), detail);
        moveTo(ConnectionState.DISCONNECTING);
        if (code == null) {
            channel.close();
            return;
        }
        MqttProperties props = isV5() && problemInformation ? MqttProps.reasonString(detail) : MqttProperties.NO_PROPERTIES;
        channel.writeAndFlush(Packets.connAck(code, false, props)).addListener(ChannelFutureListener.CLOSE);
    }

    // ---------------------------------------------------------------- packets after CONNECT

    private void dispatch(MqttMessage packet) {
        switch (packet.fixedHeader().messageType()) {
            case PUBLISH -> receivePublish((MqttPublishMessage) packet);
            case PUBACK -> receivePuback(packetId(packet));
            case PUBREC -> receivePubrec(packet);
            case PUBREL -> receivePubrel(packetId(packet));
            case PUBCOMP -> receivePubcomp(packetId(packet));
            case SUBSCRIBE -> receiveSubscribe((MqttSubscribeMessage) packet);
            case UNSUBSCRIBE -> receiveUnsubscribe((MqttUnsubscribeMessage) packet);
            case PINGREQ -> channel.writeAndFlush(Packets.pingResp());
            case DISCONNECT -> receiveDisconnect(packet);
            case CONNECT -> protocolError(ReasonCodes.PROTOCOL_ERROR, "second CONNECT");
            case AUTH -> protocolError(ReasonCodes.PROTOCOL_ERROR, "AUTH without an authentication method");
            default -> protocolError(ReasonCodes.PROTOCOL_ERROR,
                    packet.fixedHeader().messageType() + " is not sent by clients");
        }
    }

    private static int packetId(MqttMessage packet) {
        return ((MqttMessageIdVariableHeader) packet.variableHeader()).messageId();
    }

    private void receivePublish(MqttPublishMessage publish) {
        int qos = publish.fixedHeader().qosLevel().value();
        int packetId = publish.variableHeader().packetId();
        String topic = publish.variableHeader().topicName();
        MqttProperties props = isV5() ? publish.variableHeader().properties() : MqttProperties.NO_PROPERTIES;
        if (isV5()) {
            Integer alias = MqttProps.integer(props, MqttPropertyType.TOPIC_ALIAS);
            if (alias != null) {
                if (topicAliases == null || !topicAliases.isValidAlias(alias)) {
                    protocolError(ReasonCodes.TOPIC_ALIAS_INVALID, "topic alias " + alias + " out of range");
                    return;
                }
                if (topic.isEmpty()) {
                    topic = topicAliases.resolve(alias);
                    if (topic == null) {
                        protocolError(ReasonCodes.PROTOCOL_ERROR, "topic alias " + alias + " used before it was set");
                        return;
                    }
                } else {
                    topicAliases.bind(alias, topic);
                }
            }
        }
        if (!TopicFilter.isValidTopicName(topic) || !withinTopicLimits(topic)) {
            protocolError(ReasonCodes.TOPIC_NAME_INVALID, "invalid topic name '" + topic + "'");
            return;
        }
        if (qos > 0 && !inboundUnfinished.contains(packetId)) {
            if (isV5() && inboundUnfinished.size() >= limits.receiveMaximum()) {
                protocolError(ReasonCodes.RECEIVE_MAXIMUM_EXCEEDED,
                        "more than receive maximum " + limits.receiveMaximum() + " unacknowledged publishes");
                return;
            }
            inboundUnfinished.add(packetId);
        }
        if (!context.access().canPublish(clientId, username, topic)) {
            refusePublishNotAuthorized(qos, packetId, topic);
            return;
        }
        long expiresAt = 0;
        Integer expiry = MqttProps.integer(props, MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL);
        if (expiry != null) {
            expiresAt = System.currentTimeMillis() + unsigned(expiry, 0) * 1000;
        }
        Message message = new Message(topic, ByteBufUtil.getBytes(publish.content()), qos,
                publish.fixedHeader().isRetain(), MqttProps.forwarded(props), expiresAt);
        CompletableFuture<PublishResult> result;
        try {
            result = session.publish(qos == 0 ? 0 : packetId, message);
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        // QoS 0 has no ack to keep in order, so a result that is already there is used at once.
        if (qos == 0 && result.isDone()) {
            publishStored(message, packetId, result.getNow(null), failureOf(result));
        } else {
            result.whenCompleteAsync((r, e) -> publishStored(message, packetId, r, e), onLoop);
        }
    }

    private static Throwable failureOf(CompletableFuture<?> done) {
        try {
            done.join();
            return null;
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            return e;
        }
    }

    private boolean withinTopicLimits(String topic) {
        if (topic.getBytes(StandardCharsets.UTF_8).length > limits.maxTopicLength()) {
            return false;
        }
        int levels = 1;
        for (int i = 0; i < topic.length(); i++) {
            if (topic.charAt(i) == '/') {
                levels++;
            }
        }
        return levels <= limits.maxTopicLevels();
    }

    /**
     * A publish the ACL denies. MQTT 5 answers reason 0x87. MQTT 3.1.1 has no negative ack; its
     * section 3.3.5 lets the server either acknowledge without routing or close the connection.
     * Like Moquette, DurableMQ acknowledges and drops (a client in a reconnect loop over one
     * forbidden message would otherwise never make progress); the log line says so.
     */
    private void refusePublishNotAuthorized(int qos, int packetId, String topic) {
        LOG.info("publish of client {} to topic {} denied by the ACL{}", clientId, topic,
                isV5() ? "" : " (acknowledged and dropped, MQTT 3.1.1)");
        if (qos == 1) {
            inboundUnfinished.remove(packetId);
            writeAck(MqttMessageType.PUBACK, packetId, isV5() ? ReasonCodes.NOT_AUTHORIZED : ReasonCodes.SUCCESS,
                    "not authorized");
        } else if (qos == 2) {
            if (isV5()) {
                inboundUnfinished.remove(packetId); // a PUBREC with a failure code ends the exchange
            }
            writeAck(MqttMessageType.PUBREC, packetId, isV5() ? ReasonCodes.NOT_AUTHORIZED : ReasonCodes.SUCCESS,
                    "not authorized");
        }
    }

    private void publishStored(Message message, int packetId, PublishResult result, Throwable error) {
        if (!channel.isActive()) {
            return; // nothing to acknowledge on a closed connection: the client resends
        }
        int qos = message.qos();
        if (error != null) {
            Throwable cause = unwrap(error);
            if (cause instanceof SessionClosedException) {
                return;
            }
            LOG.warn("publish of client {} to topic {} not acknowledged, closing: {}", clientId, message.topic(),
                    cause.toString());
            closeUnacknowledged(qos);
            return;
        }
        switch (result.status()) {
            case ACCEPTED, DUPLICATE -> {
                byte code = isV5() && result.status() == PublishResult.Status.ACCEPTED && result.matchedSessions() == 0
                        ? ReasonCodes.NO_MATCHING_SUBSCRIBERS : ReasonCodes.SUCCESS;
                if (qos == 1) {
                    inboundUnfinished.remove(packetId);
                    writeAck(MqttMessageType.PUBACK, packetId, code, null);
                } else if (qos == 2) {
                    writeAck(MqttMessageType.PUBREC, packetId, code, null);
                }
                if (result.status() == PublishResult.Status.ACCEPTED && !context.interceptors().isEmpty()) {
                    context.interceptors().published(Packets.publish(message.topic(), qos, false, message.retain(),
                            packetId, message.payload(), MqttProperties.NO_PROPERTIES), clientId, username);
                }
            }
            case QUOTA_EXCEEDED -> {
                LOG.info("publish of client {} to topic {} refused: a subscriber's queue is full", clientId, message.topic());
                refusePublish(qos, packetId, ReasonCodes.QUOTA_EXCEEDED, "a subscriber's queue is full");
            }
            // Broker-wide refusals: the engine counts and logs them (throttled), so no line per publish here.
            case BUDGET_EXCEEDED -> refusePublish(qos, packetId, ReasonCodes.QUOTA_EXCEEDED,
                    "the broker's queue budget is used up; retry later", false);
            case HEAP_PRESSURE -> refusePublish(qos, packetId, ReasonCodes.QUOTA_EXCEEDED,
                    "the broker is short of memory; retry later", false);
        }
    }

    /**
     * The commit of a publish failed. Its outcome is unknown: the write may have reached the WAL
     * before the error, and the engine's reset replays it. A PUBACK / PUBREC 0x80 would tell an
     * MQTT 5 application "not stored", and the new publish it then makes is a second copy (a
     * QoS 2 duplicate if the first was stored after all). So no acknowledgement at all, as for
     * MQTT 3.1.1: the connection closes (MQTT 5 first gets DISCONNECT 0x80, which acknowledges
     * nothing) and the client resends with DUP and the same packet id after reconnecting; the
     * engine's QoS 2 receive record then answers a stored message as a duplicate.
     */
    private void closeUnacknowledged(int qos) {
        if (qos == 0) {
            return; // nothing to acknowledge, nothing promised
        }
        disconnectWith(ReasonCodes.UNSPECIFIED_ERROR,
                "the store failed to commit; reconnect and resend unacknowledged publishes with the same packet id");
    }

    /**
     * The engine did not take a publish. MQTT 5 says so in the PUBACK / PUBREC; MQTT 3.1.1 cannot,
     * and acknowledging would promise what the store does not hold, so the connection is closed
     * unacknowledged and the client resends after reconnecting.
     */
    private void refusePublish(int qos, int packetId, byte code, String why) {
        refusePublish(qos, packetId, code, why, true);
    }

    /** {@code logClose} false for broker-wide refusals, which the engine logs itself (throttled): one line per reconnect of every publisher would flood the log. */
    private void refusePublish(int qos, int packetId, byte code, String why, boolean logClose) {
        if (qos == 0) {
            return;
        }
        if (isV5()) {
            inboundUnfinished.remove(packetId);
            writeAck(qos == 1 ? MqttMessageType.PUBACK : MqttMessageType.PUBREC, packetId, code, why);
        } else {
            if (logClose) {
                LOG.warn("closing MQTT 3.1.1 client {}: {} and 3.1.1 has no negative acknowledgement", clientId, why);
            } else {
                LOG.debug("closing MQTT 3.1.1 client {}: {} and 3.1.1 has no negative acknowledgement", clientId, why);
            }
            moveTo(ConnectionState.DISCONNECTING);
            channel.close();
        }
    }

    private void writeAck(MqttMessageType type, int packetId, byte code, String reason) {
        MqttProperties props = isV5() && reason != null && problemInformation && (code & 0xFF) >= 0x80
                ? MqttProps.reasonString(reason) : MqttProperties.NO_PROPERTIES;
        channel.writeAndFlush(Packets.pubReply(type, packetId, code, props));
    }

    private void receivePubrel(int packetId) {
        CompletableFuture<Void> released;
        try {
            released = session.release(packetId);
        } catch (RuntimeException e) {
            released = CompletableFuture.failedFuture(e);
        }
        released.whenCompleteAsync((v, error) -> {
            if (!channel.isActive()) {
                return;
            }
            if (error != null) {
                Throwable cause = unwrap(error);
                if (!(cause instanceof SessionClosedException)) {
                    // Without a durable release there is no PUBCOMP; the client resends PUBREL after reconnecting.
                    LOG.warn("PUBREL {} of client {} not stored, closing: {}", packetId, clientId, cause.toString());
                    moveTo(ConnectionState.DISCONNECTING);
                    channel.close();
                }
                return;
            }
            inboundUnfinished.remove(packetId);
            writeAck(MqttMessageType.PUBCOMP, packetId, ReasonCodes.SUCCESS, null);
        }, onLoop);
    }

    private void receivePuback(int packetId) {
        String topic = outboundTopics.remove(packetId);
        engineCall("PUBACK", () -> session.puback(packetId));
        context.interceptors().acknowledged(clientId, username, topic, packetId);
    }

    private void receivePubrec(MqttMessage packet) {
        int packetId = packetId(packet);
        if (isV5() && packet.variableHeader() instanceof MqttPubReplyMessageVariableHeader reply
                && (reply.reasonCode() & 0xFF) >= 0x80) {
            // The subscriber refused the message: the QoS 2 exchange ends here (MQTT 5 section 4.3.3).
            outboundTopics.remove(packetId);
            engineCall("PUBREC", () -> session.discard(packetId, "refused_by_subscriber"));
            return;
        }
        engineCall("PUBREC", () -> session.pubrec(packetId));
    }

    private void receivePubcomp(int packetId) {
        String topic = outboundTopics.remove(packetId);
        engineCall("PUBCOMP", () -> session.pubcomp(packetId));
        context.interceptors().acknowledged(clientId, username, topic, packetId);
    }

    private void engineCall(String what, java.util.function.Supplier<CompletableFuture<Void>> call) {
        try {
            call.get().whenComplete((v, error) -> {
                if (error != null && !(unwrap(error) instanceof SessionClosedException)) {
                    LOG.warn("{} of client {} not stored: {}", what, clientId, unwrap(error).toString());
                }
            });
        } catch (SessionClosedException e) {
            LOG.debug("{} of client {} after its session closed", what, clientId);
        }
    }

    private void receiveSubscribe(MqttSubscribeMessage subscribe) {
        int packetId = subscribe.idAndPropertiesVariableHeader().messageId();
        int subscriptionId = 0;
        if (isV5()) {
            Integer id = MqttProps.integer(subscribe.idAndPropertiesVariableHeader().properties(),
                    MqttPropertyType.SUBSCRIPTION_IDENTIFIER);
            if (id != null) {
                if (id == 0) {
                    protocolError(ReasonCodes.PROTOCOL_ERROR, "subscription identifier 0");
                    return;
                }
                subscriptionId = id;
            }
        }
        List<MqttTopicSubscription> requested = subscribe.payload().topicSubscriptions();
        if (requested.isEmpty()) {
            protocolError(ReasonCodes.PROTOCOL_ERROR, "SUBSCRIBE without topic filters");
            return;
        }
        Integer[] codes = new Integer[requested.size()];
        List<Subscription> accepted = new ArrayList<>();
        List<Integer> acceptedIndex = new ArrayList<>();
        for (int i = 0; i < requested.size(); i++) {
            String filter = requested.get(i).topicName();
            MqttSubscriptionOption option = requested.get(i).option();
            if (!TopicFilter.isValidFilter(filter) || !withinTopicLimits(filter)) {
                codes[i] = isV5() ? ReasonCodes.TOPIC_FILTER_INVALID & 0xFF : ReasonCodes.SUBACK_FAILURE_V3;
                continue;
            }
            if (isV5() && TopicFilter.isShared(filter) && option.isNoLocal()) {
                protocolError(ReasonCodes.PROTOCOL_ERROR, "no-local on shared subscription " + filter);
                return;
            }
            if (!context.access().canSubscribe(clientId, username, filter)) {
                LOG.info("subscription of client {} to {} denied by the ACL", clientId, filter);
                codes[i] = isV5() ? ReasonCodes.NOT_AUTHORIZED & 0xFF : ReasonCodes.SUBACK_FAILURE_V3;
                continue;
            }
            SubscriptionOptions options = isV5()
                    ? new SubscriptionOptions(option.qos().value(), option.isNoLocal(), option.isRetainAsPublished(),
                    option.retainHandling().value(), subscriptionId)
                    : SubscriptionOptions.ofQos(option.qos().value());
            accepted.add(new Subscription(filter, options));
            acceptedIndex.add(i);
        }
        if (accepted.isEmpty()) {
            channel.writeAndFlush(Packets.subAck(packetId, Arrays.asList(codes), MqttProperties.NO_PROPERTIES));
            return;
        }
        CompletableFuture<SubscribeResult> result;
        try {
            result = session.subscribe(accepted);
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        result.whenCompleteAsync((granted, error) -> {
            if (!channel.isActive()) {
                return;
            }
            if (error != null && unwrap(error) instanceof SessionClosedException) {
                return;
            }
            if (error != null) {
                LOG.warn("SUBSCRIBE of client {} not stored: {}", clientId, unwrap(error).toString());
            }
            for (int j = 0; j < accepted.size(); j++) {
                int code = error != null ? ReasonCodes.UNSPECIFIED_ERROR & 0xFF : granted.granted().get(j);
                if (code == SubscribeResult.QUOTA_EXCEEDED) {
                    context.metrics().subscriptionRefused("max_subscriptions"); // the engine logs it
                }
                if (!isV5() && code >= 0x80) {
                    code = ReasonCodes.SUBACK_FAILURE_V3; // 3.1.1 has a single failure code
                }
                codes[acceptedIndex.get(j)] = code;
                if (code < 0x80) {
                    context.interceptors().subscribed(clientId, username, accepted.get(j).filter(), code);
                }
            }
            channel.writeAndFlush(Packets.subAck(packetId, Arrays.asList(codes), MqttProperties.NO_PROPERTIES));
        }, onLoop);
    }

    private void receiveUnsubscribe(MqttUnsubscribeMessage unsubscribe) {
        int packetId = unsubscribe.idAndPropertiesVariableHeader().messageId();
        List<String> filters = unsubscribe.payload().topics();
        if (filters.isEmpty()) {
            protocolError(ReasonCodes.PROTOCOL_ERROR, "UNSUBSCRIBE without topic filters");
            return;
        }
        Short[] codes = new Short[filters.size()];
        List<String> valid = new ArrayList<>();
        List<Integer> validIndex = new ArrayList<>();
        for (int i = 0; i < filters.size(); i++) {
            if (TopicFilter.isValidFilter(filters.get(i))) {
                valid.add(filters.get(i));
                validIndex.add(i);
            } else {
                codes[i] = (short) (ReasonCodes.TOPIC_FILTER_INVALID & 0xFF);
            }
        }
        CompletableFuture<List<Boolean>> result;
        try {
            result = valid.isEmpty() ? CompletableFuture.completedFuture(List.of()) : session.unsubscribe(valid);
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        result.whenCompleteAsync((removed, error) -> {
            if (!channel.isActive() || (error != null && unwrap(error) instanceof SessionClosedException)) {
                return;
            }
            if (error != null) {
                LOG.warn("UNSUBSCRIBE of client {} not stored: {}", clientId, unwrap(error).toString());
            }
            for (int j = 0; j < valid.size(); j++) {
                short code = error != null ? (short) (ReasonCodes.UNSPECIFIED_ERROR & 0xFF)
                        : removed.get(j) ? ReasonCodes.SUCCESS : ReasonCodes.NO_SUBSCRIPTION_EXISTED;
                codes[validIndex.get(j)] = code;
                if (error == null) {
                    context.interceptors().unsubscribed(clientId, username, valid.get(j));
                }
            }
            channel.writeAndFlush(Packets.unsubAck(packetId, Arrays.asList(codes), isV5()));
        }, onLoop);
    }

    private void receiveDisconnect(MqttMessage disconnect) {
        byte reason = ReasonCodes.SUCCESS;
        if (isV5() && disconnect.variableHeader() instanceof MqttReasonCodeAndPropertiesVariableHeader header) {
            reason = header.reasonCode();
            Integer expiry = MqttProps.integer(header.properties(), MqttPropertyType.SESSION_EXPIRY_INTERVAL);
            if (expiry != null) {
                long requested = unsigned(expiry, 0);
                if (sessionExpirySeconds == 0 && requested > 0) {
                    protocolError(ReasonCodes.PROTOCOL_ERROR, "DISCONNECT sets a session expiry after CONNECT had 0");
                    return;
                }
                disconnectExpirySeconds = Math.min(requested, limits.maxSessionExpirySeconds());
            }
        }
        if (reason != ReasonCodes.DISCONNECT_WITH_WILL) {
            will = null;
        }
        disconnectedNormally = true;
        context.interceptors().disconnected(clientId, username);
        detachSession(disconnectExpirySeconds);
        moveTo(ConnectionState.DISCONNECTING);
        channel.close();
    }

    // ---------------------------------------------------------------- ending

    /** The socket of a connected client closed, for whatever reason: will, interceptors, session detach. */
    private void connectionEnded() {
        if (!disconnectedNormally) {
            context.interceptors().connectionLost(clientId, username);
        }
        if (will != null && !context.isShuttingDown()) {
            long expiry = disconnectExpirySeconds >= 0 ? disconnectExpirySeconds : sessionExpirySeconds;
            long delay = Math.min(will.delaySeconds(), expiry);
            // A takeover continues the session: a delayed will must then not be sent (MQTT 5 section 3.1.3.2.2).
            if (!(takenOver && will.delaySeconds() > 0)) {
                context.wills().connectionLost(clientId, username, will, takenOver ? 0 : delay);
            }
        }
        if (!sessionDetached) {
            detachSession(-1);
        }
    }

    private void detachSession(long expirySeconds) {
        if (sessionDetached || session == null) {
            return;
        }
        sessionDetached = true;
        try {
            CompletableFuture<Void> done = session.disconnect(expirySeconds);
            context.trackDetach(done);
            done.whenComplete((v, error) -> {
                if (error != null && !(unwrap(error) instanceof SessionClosedException)) {
                    LOG.warn("detaching the session of client {} failed: {}", clientId, unwrap(error).toString());
                }
            });
        } catch (SessionClosedException e) {
            LOG.debug("client {}: session already closed at disconnect", clientId);
        }
    }

    private void malformed(Throwable cause) {
        if (state == ConnectionState.AWAITING_CONNECT && cause instanceof MqttUnacceptableProtocolVersionException) {
            refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_UNACCEPTABLE_PROTOCOL_VERSION,
                    "unsupported_protocol_version", cause.getMessage());
            return;
        }
        if (state == ConnectionState.AWAITING_CONNECT && cause instanceof MqttIdentifierRejectedException) {
            refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED, "client_id_rejected",
                    cause.getMessage());
            return;
        }
        if (cause instanceof ProtocolViolation violation) {
            if (state == ConnectionState.AWAITING_CONNECT && violation.isInMqtt5Connect()) {
                // MQTT 5 section 3.2.2.2: a bad CONNECT may be answered with a CONNACK carrying the reason.
                protocolLevel = MQTT_5;
                context.metrics().protocolError(ReasonCodes.label(violation.reasonCode()));
                refuseConnect(MqttConnectReturnCode.valueOf(violation.reasonCode()), "protocol_error",
                        violation.getMessage());
                return;
            }
            protocolError(violation.reasonCode(), violation.getMessage());
            return;
        }
        byte code = cause instanceof TooLongFrameException ? ReasonCodes.PACKET_TOO_LARGE : ReasonCodes.MALFORMED_PACKET;
        protocolError(code, (code == ReasonCodes.PACKET_TOO_LARGE ? "packet too large: " : "malformed packet: ")
                + cause.getMessage());
    }

    /** Closes this one connection for breaking the protocol: one log line, one metric, MQTT 5 DISCONNECT with the reason. */
    private void protocolError(byte code, String why) {
        if (state == ConnectionState.DISCONNECTING || state == ConnectionState.CLOSED) {
            return;
        }
        LOG.warn("closing connection from {} (client {}): {}", channel.remoteAddress(), clientId, why);
        context.metrics().protocolError(ReasonCodes.label(code));
        disconnectWith(code, why);
    }

    /** Ends the connection from the server side; an MQTT 5 client that got its CONNACK is told why. */
    private void disconnectWith(byte code, String why) {
        if (state == ConnectionState.DISCONNECTING || state == ConnectionState.CLOSED) {
            return;
        }
        boolean tell = isV5() && state == ConnectionState.CONNECTED;
        moveTo(ConnectionState.DISCONNECTING);
        if (tell) {
            MqttProperties props = problemInformation ? MqttProps.reasonString(why) : MqttProperties.NO_PROPERTIES;
            channel.writeAndFlush(Packets.disconnect(code, props)).addListener(ChannelFutureListener.CLOSE);
        } else {
            channel.close();
        }
    }

    // ---------------------------------------------------------------- SessionListener (engine threads)

    @Override
    public void onPublish(OutboundPublish publish) {
        onLoop.execute(() -> sendPublish(publish));
    }

    @Override
    public void onPubrel(int packetId) {
        onLoop.execute(() -> {
            if (state == ConnectionState.CONNECTED && channel.isActive()) {
                channel.writeAndFlush(Packets.pubReply(MqttMessageType.PUBREL, packetId, ReasonCodes.SUCCESS,
                        MqttProperties.NO_PROPERTIES));
            }
        });
    }

    @Override
    public void onSessionClosed(CloseReason reason) {
        onLoop.execute(() -> {
            if (state == ConnectionState.CLOSED) {
                return;
            }
            sessionDetached = true; // the handle is no longer this connection's
            takenOver = reason == CloseReason.TAKEN_OVER;
            byte code = switch (reason) {
                case TAKEN_OVER -> ReasonCodes.SESSION_TAKEN_OVER;
                case ENGINE_CLOSED -> ReasonCodes.SERVER_SHUTTING_DOWN;
                case ENGINE_RESET -> ReasonCodes.UNSPECIFIED_ERROR;
            };
            LOG.info("closing connection of client {} from {}: session {}", clientId, channel.remoteAddress(),
                    reason.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '));
            disconnectWith(code, "session " + reason.name().toLowerCase(java.util.Locale.ROOT));
        });
    }

    private void sendPublish(OutboundPublish publish) {
        if (state != ConnectionState.CONNECTED || !channel.isActive()) {
            return; // the in-flight record stays in the engine and is resent on the next connection
        }
        Message message = publish.message();
        long now = System.currentTimeMillis();
        if (message.isExpired(now)) {
            if (publish.qos() > 0) {
                engineCall("expired", () -> session.discard(publish.packetId(), "expired"));
            }
            return;
        }
        long remaining = message.remainingExpirySeconds(now);
        if (isV5() && clientMaxPacketSize < Long.MAX_VALUE) {
            long size = MqttProps.publishPacketSize(message.topic(), publish.qos(), message.payload().length,
                    message.properties(), remaining, publish.subscriptionIds(), true);
            if (size > clientMaxPacketSize) {
                LOG.info("message to client {} on topic {} dropped: {} bytes exceed the client's maximum packet size {}",
                        clientId, message.topic(), size, clientMaxPacketSize);
                if (publish.qos() > 0) {
                    engineCall("discard", () -> session.discard(publish.packetId(), "packet_too_large"));
                }
                return;
            }
        }
        MqttProperties props = isV5() ? MqttProps.outbound(message.properties(), remaining, publish.subscriptionIds())
                : MqttProperties.NO_PROPERTIES;
        if (publish.qos() > 0) {
            outboundTopics.put(publish.packetId(), message.topic());
        }
        channel.writeAndFlush(Packets.publish(message.topic(), publish.qos(), publish.dup(), publish.retain(),
                publish.packetId(), message.payload(), props));
    }

    // ---------------------------------------------------------------- helpers

    private static long unsigned(Integer value, long absent) {
        return value == null ? absent : Integer.toUnsignedLong(value);
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
