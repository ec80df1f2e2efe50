package io.durablemq.broker.protocol;

import io.durablemq.broker.FatalErrors;
import io.durablemq.broker.config.Limits;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.session.SessionListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttIdentifierRejectedException;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttSubscribeMessage;
import io.netty.handler.codec.mqtt.MqttUnacceptableProtocolVersionException;
import io.netty.handler.codec.mqtt.MqttUnsubscribeMessage;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;
import java.util.ArrayDeque;

import static io.durablemq.broker.protocol.ConnectionScope.LOG;

/**
 * The MQTT protocol for one network connection (3.1, 3.1.1 and 5.0), the last handler of the
 * pipeline after Netty's MQTT codec. This class only receives Netty's events and the engine's
 * callbacks and hands each packet to the part of the protocol it belongs to:
 * {@link ConnectFlow} (CONNECT, authentication, CONNACK), {@link InboundPublishFlow} (PUBLISH,
 * PUBREL from the client), {@link OutboundDelivery} (engine deliveries, PUBACK / PUBREC /
 * PUBCOMP from the client), {@link SubscribeFlow} (SUBSCRIBE, UNSUBSCRIBE) and
 * {@link DisconnectFlow} (DISCONNECT, will, session detach); {@link ConnectionScope} is what
 * they share. Everything runs on the channel's event loop; the engine's callbacks and future
 * completions are handed back to it. An acknowledgement is written only when the engine's future
 * for it has completed, i.e. when what it promises is durable. The connection's life is
 * {@link ConnectionState}; see mqtt-adapter/README.md.
 */
public final class MqttConnection extends ChannelInboundHandlerAdapter implements SessionListener {
    public static final String NAME = "mqtt-connection";

    private final ConnectionScope scope;
    private final Limits limits;
    private final DisconnectFlow disconnects;
    private final ConnectFlow connects;
    private final InboundPublishFlow inbound;
    private final OutboundDelivery outbound;
    private final SubscribeFlow subscriptions;
    /** Packets that arrived after CONNECT while the engine attached the session (reading is paused meanwhile). */
    private final ArrayDeque<MqttMessage> heldWhileConnecting = new ArrayDeque<>();

    /**
     * Sockets accepted past {@code max_connections} that still get an answer to their CONNECT
     * (CONNACK quota exceeded / server unavailable); beyond this grace a socket is closed at accept.
     */
    static int acceptGrace(int maxConnections) {
        return Math.max(16, maxConnections / 10);
    }

    private static final LogThrottle ACCEPT_REFUSAL_LOG = new LogThrottle(10_000);

    public MqttConnection(ProtocolContext context) {
        this.scope = new ConnectionScope(context);
        this.limits = context.limits();
        this.disconnects = new DisconnectFlow(scope);
        this.connects = new ConnectFlow(scope, this, disconnects, this::dispatchHeld);
        this.inbound = new InboundPublishFlow(scope);
        this.outbound = new OutboundDelivery(scope);
        this.subscriptions = new SubscribeFlow(scope);
    }

    // ---------------------------------------------------------------- channel events

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        scope.channel = ctx.channel();
        ProtocolContext context = scope.context;
        context.channels().add(scope.channel);
        int openIncludingThis = context.metrics().connectionOpened();
        if (openIncludingThis > limits.maxConnections() + acceptGrace(limits.maxConnections())) {
            // Far past the limit: close at once rather than hold a socket for a CONNACK (a flood of idle sockets
            // would otherwise pile up for connect_timeout_seconds). Counted always, logged at most every 10 s.
            scope.closed();
            context.metrics().connectRejected("max_connections");
            if (ACCEPT_REFUSAL_LOG.tryAcquire()) {
                LOG.warn("refusing connections at accept: {} open, max_connections {} (logged at most every 10 s)",
                        context.metrics().openConnections(), limits.maxConnections());
            }
            ctx.close();
            super.channelActive(ctx);
            return;
        }
        connects.startConnectTimer(ctx);
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof MqttMessage p && p.fixedHeader() != null && p.fixedHeader().messageType() == MqttMessageType.PUBACK
                && p.decoderResult().isSuccess() && scope.state() == ConnectionState.CONNECTED) {
            try {
                outbound.receivePuback(packetId(p)); // held for the end of this read: OutboundDelivery.flushPubacks
            } finally {
                ReferenceCountUtil.release(p);
            }
            return;
        }
        outbound.flushPubacks(); // the PUBACKs read before this packet reach the engine before it
        if (!(msg instanceof MqttMessage packet)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (packet.decoderResult().isFailure()) {
            ReferenceCountUtil.release(packet);
            malformed(packet.decoderResult().cause());
            return;
        }
        switch (scope.state()) {
            case AWAITING_CONNECT -> {
                try {
                    if (packet.fixedHeader().messageType() == MqttMessageType.CONNECT) {
                        connects.receiveConnect((MqttConnectMessage) packet);
                    } else {
                        scope.protocolError(ReasonCodes.PROTOCOL_ERROR,
                                "first packet is " + packet.fixedHeader().messageType() + ", not CONNECT");
                    }
                } finally {
                    ReferenceCountUtil.release(packet);
                }
            }
            case AUTHENTICATING -> {
                try {
                    connects.receiveDuringAuthentication(packet);
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

    /** The end of one read: the PUBACKs it held go to the engine together. */
    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
        outbound.flushPubacks();
        super.channelReadComplete(ctx);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent && scope.context.backpressure().isPaused(scope.channel)) {
            // The broker itself stopped reading (back-pressure): silence is not the client's fault.
            LOG.debug("client {}: keep-alive idle while paused by back-pressure, not closing", scope.clientId);
        } else if (evt instanceof IdleStateEvent) {
            LOG.info("client {} from {}: no packet within 1.5 x keep-alive, closing", scope.clientId,
                    scope.channel.remoteAddress());
            scope.context.metrics().protocolError("keep_alive_timeout");
            scope.disconnectWith(ReasonCodes.KEEP_ALIVE_TIMEOUT, "keep-alive timeout");
        } else if (evt == ProtocolContext.ShutdownEvent.INSTANCE) {
            scope.disconnectWith(ReasonCodes.SERVER_SHUTTING_DOWN, "server shutting down");
        } else {
            super.userEventTriggered(ctx, evt);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        outbound.flushPubacks(); // received before the connection ended: applied before the session is detached
        scope.closed();
        scope.context.metrics().connectionClosed();
        connects.cancelConnectTimer();
        heldWhileConnecting.forEach(ReferenceCountUtil::release);
        heldWhileConnecting.clear();
        if (scope.session != null) {
            disconnects.connectionEnded();
        }
        super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof VirtualMachineError fatal) {
            // Never "closing this connection" and going on: after an OutOfMemoryError the heap,
            // and any state half-changed when it hit, cannot be trusted. The store makes a
            // restart safe; FatalErrors ends the process (ops/README.md, "Out of memory").
            FatalErrors.handle("connection from " + ctx.channel().remoteAddress() + " (client " + scope.clientId + ")",
                    fatal);
            return;
        }
        if (scope.state() == ConnectionState.DISCONNECTING && !(cause instanceof IOException)) {
            // Input that was in a decoder when the server decided to disconnect: GracefulClose ends the socket.
            LOG.debug("connection from {} (client {}) ending, ignored: {}", ctx.channel().remoteAddress(),
                    scope.clientId, cause.toString());
            return;
        }
        if (cause instanceof IOException) {
            LOG.debug("connection from {} (client {}) failed: {}", ctx.channel().remoteAddress(), scope.clientId,
                    cause.toString());
        } else {
            LOG.warn("connection from {} (client {}) failed, closing: {}", ctx.channel().remoteAddress(),
                    scope.clientId, cause.toString());
        }
        ctx.close();
    }

    // ---------------------------------------------------------------- packets after CONNECT

    private void dispatch(MqttMessage packet) {
        if (packet.fixedHeader().messageType() != MqttMessageType.PUBACK) {
            outbound.flushPubacks(); // held PUBACKs first: the engine sees the packets in the client's order
        }
        switch (packet.fixedHeader().messageType()) {
            case PUBLISH -> inbound.receivePublish((MqttPublishMessage) packet);
            case PUBACK -> outbound.receivePuback(packetId(packet));
            case PUBREC -> outbound.receivePubrec(packet, packetId(packet));
            case PUBREL -> inbound.receivePubrel(packetId(packet));
            case PUBCOMP -> outbound.receivePubcomp(packetId(packet));
            case SUBSCRIBE -> subscriptions.receiveSubscribe((MqttSubscribeMessage) packet);
            case UNSUBSCRIBE -> subscriptions.receiveUnsubscribe((MqttUnsubscribeMessage) packet);
            case PINGREQ -> scope.channel.writeAndFlush(Packets.pingResp());
            case DISCONNECT -> disconnects.receiveDisconnect(packet);
            case CONNECT -> scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "second CONNECT");
            case AUTH -> connects.receiveAuth(packet);
            default -> scope.protocolError(ReasonCodes.PROTOCOL_ERROR,
                    packet.fixedHeader().messageType() + " is not sent by clients");
        }
    }

    /** After the CONNACK: the packets that arrived while the session was being attached, in order. */
    private void dispatchHeld() {
        while (!heldWhileConnecting.isEmpty()) {
            MqttMessage held = heldWhileConnecting.poll();
            try {
                if (scope.state() == ConnectionState.CONNECTED) {
                    dispatch(held);
                }
            } finally {
                ReferenceCountUtil.release(held);
            }
        }
        outbound.flushPubacks();
    }

    private static int packetId(MqttMessage packet) {
        return ((MqttMessageIdVariableHeader) packet.variableHeader()).messageId();
    }

    /** A packet Netty's decoder or {@link PacketGuard} refused. */
    private void malformed(Throwable cause) {
        boolean awaitingConnect = scope.state() == ConnectionState.AWAITING_CONNECT;
        if (awaitingConnect && cause instanceof MqttUnacceptableProtocolVersionException) {
            connects.refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_UNACCEPTABLE_PROTOCOL_VERSION,
                    "unsupported_protocol_version", cause.getMessage());
            return;
        }
        if (awaitingConnect && cause instanceof MqttIdentifierRejectedException) {
            connects.refuseConnect(MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED, "client_id_rejected",
                    cause.getMessage());
            return;
        }
        if (cause instanceof ProtocolViolation violation) {
            if (awaitingConnect && violation.isInMqtt5Connect()) {
                // MQTT 5 section 3.2.2.2: a bad CONNECT may be answered with a CONNACK carrying the reason.
                scope.protocolLevel = ConnectionScope.MQTT_5;
                scope.context.metrics().protocolError(ReasonCodes.label(violation.reasonCode()));
                connects.refuseConnect(MqttConnectReturnCode.valueOf(violation.reasonCode()), "protocol_error",
                        violation.getMessage());
                return;
            }
            scope.protocolError(violation.reasonCode(), violation.getMessage());
            return;
        }
        byte code = cause instanceof TooLongFrameException ? ReasonCodes.PACKET_TOO_LARGE : ReasonCodes.MALFORMED_PACKET;
        scope.protocolError(code, (code == ReasonCodes.PACKET_TOO_LARGE ? "packet too large: " : "malformed packet: ")
                + cause.getMessage());
    }

    // ---------------------------------------------------------------- SessionListener (engine threads)
    // Through LoopWrites, in the order the engine called, with the connection's acknowledgements:
    // the loop runs them several per task and flushes once after them.

    @Override
    public void onPublish(OutboundPublish publish) {
        scope.fromEngine.add(new LoopWrites.EngineDelivery(outbound, publish, System.nanoTime()));
    }

    @Override
    public void onPubrel(int packetId) {
        scope.fromEngine.add(() -> outbound.sendPubrel(packetId));
    }

    @Override
    public void onSessionClosed(CloseReason reason) {
        scope.fromEngine.add(() -> disconnects.sessionClosed(reason));
    }
}
