package io.durablemq.broker.protocol;

import io.durablemq.broker.config.Limits;
import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.session.SessionHandle;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * What the parts of one MQTT connection share ({@link ConnectFlow}, {@link InboundPublishFlow},
 * {@link OutboundDelivery}, {@link SubscribeFlow}, {@link DisconnectFlow}): the channel, the
 * connection's state, who the client is once CONNECT settled it, and the two ways every part
 * may end the connection from the server side ({@link #protocolError}, {@link #disconnectWith}).
 * Everything here is touched on the channel's event loop only.
 */
final class ConnectionScope {
    /**
     * Every part of a connection logs under {@link MqttConnection}'s name, as it did before the
     * class was split, so operators' log levels and filters keep matching.
     */
    static final Logger LOG = LoggerFactory.getLogger(MqttConnection.class);
    static final int MQTT_5 = 5;

    final ProtocolContext context;
    final Limits limits;
    /** Set when the channel becomes active. */
    Channel channel;
    private ConnectionState state = ConnectionState.AWAITING_CONNECT;

    // Set by ConnectFlow while it handles CONNECT; read by every other part afterwards.
    int protocolLevel;
    String clientId;
    String username;
    long sessionExpirySeconds;
    long clientMaxPacketSize = Long.MAX_VALUE;
    boolean problemInformation = true;
    /** The engine's session, once attached. */
    SessionHandle session;

    /**
     * Runs engine completions and callbacks on this connection's event loop. Never throws: the
     * caller may be the engine's committer thread, and a loop already shut down (broker stopping)
     * only means there is no connection left to write to.
     */
    final Executor onLoop = task -> {
        try {
            channel.eventLoop().execute(task);
        } catch (RejectedExecutionException e) {
            LOG.debug("event loop gone, dropping a task for client {}", clientId);
        }
    };

    /** The engine threads' tasks for this connection, run on its event loop several at a time (order kept). */
    final LoopWrites fromEngine = new LoopWrites(this);

    ConnectionScope(ProtocolContext context) {
        this.context = context;
        this.limits = context.limits();
    }

    ConnectionState state() {
        return state;
    }

    /** Moves to {@code target} if {@link ConnectionState} allows it; false (and no change) otherwise. */
    boolean moveTo(ConnectionState target) {
        if (!state.canMoveTo(target)) {
            return false;
        }
        state = target;
        return true;
    }

    /** The socket closed: whatever the state was, it is over. */
    void closed() {
        state = ConnectionState.CLOSED;
    }

    boolean isV5() {
        return protocolLevel == MQTT_5;
    }

    boolean isEnding() {
        return state == ConnectionState.DISCONNECTING || state == ConnectionState.CLOSED;
    }

    // ---------------------------------------------------------------- ending from the server side

    /** Closes this one connection for breaking the protocol: one log line, one metric, MQTT 5 DISCONNECT with the reason. */
    void protocolError(byte code, String why) {
        if (isEnding()) {
            return;
        }
        LOG.warn("closing connection from {} (client {}): {}", channel.remoteAddress(), clientId, why);
        context.metrics().protocolError(ReasonCodes.label(code));
        disconnectWith(code, why);
    }

    /**
     * Ends the connection from the server side; an MQTT 5 client that got its CONNACK is told why,
     * and the socket is half-closed so it can read the DISCONNECT even while it is still writing
     * ({@link GracefulClose}).
     */
    void disconnectWith(byte code, String why) {
        if (isEnding()) {
            return;
        }
        boolean tell = isV5() && state == ConnectionState.CONNECTED;
        moveTo(ConnectionState.DISCONNECTING);
        if (tell) {
            MqttProperties props = problemInformation ? MqttProps.reasonString(why) : MqttProperties.NO_PROPERTIES;
            GracefulClose.sendThenClose(channel, Packets.disconnect(code, props));
        } else {
            channel.close();
        }
    }

    /** Closes without a DISCONNECT (3.1.1 has none, or nothing could be promised to the client). */
    void closeSilently() {
        moveTo(ConnectionState.DISCONNECTING);
        channel.close();
    }

    // ---------------------------------------------------------------- shared helpers

    /** PUBACK, PUBREC or PUBCOMP; an MQTT 5 failure carries the reason string when the client wants problem information. */
    ChannelFuture writeAck(MqttMessageType type, int packetId, byte code, String reason) {
        return channel.writeAndFlush(ackPacket(type, packetId, code, reason));
    }

    /** Like {@link #writeAck}, without the flush: {@link LoopWrites} flushes once after a run of them. */
    ChannelFuture writeAckUnflushed(MqttMessageType type, int packetId, byte code, String reason) {
        return channel.write(ackPacket(type, packetId, code, reason));
    }

    private MqttMessage ackPacket(MqttMessageType type, int packetId, byte code, String reason) {
        MqttProperties props = isV5() && reason != null && problemInformation && (code & 0xFF) >= 0x80
                ? MqttProps.reasonString(reason) : MqttProperties.NO_PROPERTIES;
        return Packets.pubReply(type, packetId, code, props);
    }

    /** Hands an acknowledgement to the engine; a failure is logged (the client resends after reconnecting). */
    void engineCall(String what, Supplier<CompletableFuture<Void>> call) {
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

    /** Topic names and filters both obey max_topic_length (bytes) and max_topic_levels. */
    boolean withinTopicLimits(String topic) {
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

    static long unsigned(Integer value, long absent) {
        return value == null ? absent : Integer.toUnsignedLong(value);
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
