package io.durablemq.broker.interceptor;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.config.PluginLoader;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.moquette.broker.subscriptions.Subscription;
import io.moquette.broker.subscriptions.Topic;
import io.moquette.interception.InterceptHandler;
import io.moquette.interception.messages.InterceptAcknowledgedMessage;
import io.moquette.interception.messages.InterceptConnectMessage;
import io.moquette.interception.messages.InterceptConnectionLostMessage;
import io.moquette.interception.messages.InterceptDisconnectMessage;
import io.moquette.interception.messages.InterceptPublishMessage;
import io.moquette.interception.messages.InterceptSubscribeMessage;
import io.moquette.interception.messages.InterceptUnsubscribeMessage;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttConnectPayload;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttQoS;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Tells Moquette {@link InterceptHandler} plugins what happens in the broker, so existing
 * Moquette interceptors run unchanged.
 * <p>
 * Every handler has its own worker thread and bounded queue: events reach a handler in the
 * order they happened, never on a Netty event loop, and a slow or throwing handler harms
 * neither the broker nor the other handlers. A throwing handler is logged and counted in
 * {@code durablemq_interceptor_errors_total{handler}}; a handler whose queue is full (10,000
 * events or 64 MiB of payloads) loses events, logged and counted in
 * {@code durablemq_interceptor_dropped_total{handler}}: the broker never waits for a plugin.
 * <p>
 * Netty buffers: every method copies what it needs before returning, the caller keeps
 * ownership of (and releases) its message. Each handler receives its own unpooled heap copy
 * of a publish payload; releasing it, as Moquette 0.17 asks of handlers, is harmless and
 * forgetting to is no leak.
 * <p>
 * Acknowledgement events: Moquette 0.17 never emits them and its
 * {@code InterceptAcknowledgedMessage.StoredMessage} cannot be built outside Moquette, so
 * {@code getMsg()} is null; {@code getTopic()}, {@code getUsername()} and
 * {@code getPacketID()} are set.
 */
public final class InterceptorBus implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(InterceptorBus.class);

    static final int DEFAULT_QUEUE_EVENTS = 10_000;
    static final long DEFAULT_QUEUE_BYTES = 64L * 1024 * 1024;

    private final List<HandlerWorker> workers;

    /** For embedding; metrics go to Micrometer's global registry. */
    public InterceptorBus(List<InterceptHandler> handlers) {
        this(handlers, Metrics.globalRegistry);
    }

    public InterceptorBus(List<InterceptHandler> handlers, MeterRegistry registry) {
        this(handlers, registry, DEFAULT_QUEUE_EVENTS, DEFAULT_QUEUE_BYTES);
    }

    InterceptorBus(List<InterceptHandler> handlers, MeterRegistry registry, int queueEvents, long queueBytes) {
        List<HandlerWorker> list = new ArrayList<>();
        for (InterceptHandler h : handlers) {
            list.add(new HandlerWorker(h, registry, queueEvents, queueBytes));
        }
        workers = List.copyOf(list);
        workers.forEach(HandlerWorker::start);
    }

    /** Loads the classes named by {@code intercept.handler}; metrics go to Micrometer's global registry. */
    public static InterceptorBus fromConfig(BrokerConfig config) throws BrokerConfigException {
        return fromConfig(config, Metrics.globalRegistry);
    }

    public static InterceptorBus fromConfig(BrokerConfig config, MeterRegistry registry) throws BrokerConfigException {
        List<InterceptHandler> handlers = new ArrayList<>();
        for (String className : config.interceptHandlers()) {
            handlers.add(PluginLoader.load("intercept.handler", className, InterceptHandler.class, config));
        }
        InterceptorBus bus = new InterceptorBus(handlers, registry);
        if (!handlers.isEmpty()) {
            LOG.info("interceptors loaded: {}", bus.workers.stream().map(HandlerWorker::id).toList());
        }
        return bus;
    }

    /** True when no handler is registered: callers may skip building events. */
    public boolean isEmpty() {
        return workers.isEmpty();
    }

    public void connected(MqttConnectMessage msg) {
        if (!anyWants(InterceptConnectMessage.class)) {
            return;
        }
        MqttConnectPayload p = msg.payload();
        // Copy the arrays: the protocol handler may clear a password after checking it.
        MqttConnectPayload copy = new MqttConnectPayload(p.clientIdentifier(), p.willProperties(), p.willTopic(),
                clone(p.willMessageInBytes()), p.userName(), clone(p.passwordInBytes()));
        InterceptConnectMessage event = new InterceptConnectMessage(
                new MqttConnectMessage(msg.fixedHeader(), msg.variableHeader(), copy));
        long bytes = length(p.willMessageInBytes());
        dispatch(InterceptConnectMessage.class, bytes, h -> h.onConnect(event));
    }

    public void disconnected(String clientId, String username) {
        InterceptDisconnectMessage event = new InterceptDisconnectMessage(clientId, username);
        dispatch(InterceptDisconnectMessage.class, 0, h -> h.onDisconnect(event));
    }

    public void connectionLost(String clientId, String username) {
        InterceptConnectionLostMessage event = new InterceptConnectionLostMessage(clientId, username);
        dispatch(InterceptConnectionLostMessage.class, 0, h -> h.onConnectionLost(event));
    }

    /** The caller keeps ownership of {@code msg}: its payload is copied here, not retained. */
    public void published(MqttPublishMessage msg, String clientId, String username) {
        if (!anyWants(InterceptPublishMessage.class)) {
            return;
        }
        ByteBuf content = msg.payload();
        byte[] payload = ByteBufUtil.getBytes(content, content.readerIndex(), content.readableBytes(), false);
        for (HandlerWorker w : workers) {
            if (w.wants(InterceptPublishMessage.class)) {
                // One message per handler: each gets its own reader index on the shared bytes.
                InterceptPublishMessage event = new InterceptPublishMessage(new MqttPublishMessage(msg.fixedHeader(),
                        msg.variableHeader(), Unpooled.wrappedBuffer(payload)), clientId, username);
                w.offer(h -> h.onPublish(event), payload.length);
            }
        }
    }

    public void subscribed(String clientId, String username, String filter, int qos) {
        if (!anyWants(InterceptSubscribeMessage.class)) {
            return;
        }
        MqttQoS mqttQos = MqttQoS.valueOf(qos);
        InterceptSubscribeMessage event = new InterceptSubscribeMessage(
                new Subscription(clientId, new Topic(filter), mqttQos), username);
        dispatch(InterceptSubscribeMessage.class, 0, h -> h.onSubscribe(event));
    }

    public void unsubscribed(String clientId, String username, String filter) {
        InterceptUnsubscribeMessage event = new InterceptUnsubscribeMessage(filter, clientId, username);
        dispatch(InterceptUnsubscribeMessage.class, 0, h -> h.onUnsubscribe(event));
    }

    /** A subscriber acknowledged an outbound message (PUBACK, or PUBCOMP for QoS 2). */
    public void acknowledged(String clientId, String username, String topic, int packetId) {
        InterceptAcknowledgedMessage event = new InterceptAcknowledgedMessage(null, topic, username, packetId);
        dispatch(InterceptAcknowledgedMessage.class, 0, h -> h.onMessageAcknowledged(event));
    }

    private boolean anyWants(Class<?> type) {
        for (HandlerWorker w : workers) {
            if (w.wants(type)) {
                return true;
            }
        }
        return false;
    }

    private void dispatch(Class<?> type, long bytes, Consumer<InterceptHandler> call) {
        for (HandlerWorker w : workers) {
            if (w.wants(type)) {
                w.offer(call, bytes);
            }
        }
    }

    private static byte[] clone(byte[] b) {
        return b == null ? null : b.clone();
    }

    private static long length(byte[] b) {
        return b == null ? 0 : b.length;
    }

    /** Stops taking events, lets each handler finish its queue (up to 5 s each), then stops the workers. */
    @Override
    public void close() {
        workers.forEach(HandlerWorker::stopAccepting);
        for (HandlerWorker w : workers) {
            w.awaitStop(5_000);
        }
    }
}
