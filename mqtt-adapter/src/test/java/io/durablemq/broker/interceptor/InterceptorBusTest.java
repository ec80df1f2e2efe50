package io.durablemq.broker.interceptor;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.moquette.interception.AbstractInterceptHandler;
import io.moquette.interception.messages.InterceptConnectMessage;
import io.moquette.interception.messages.InterceptPublishMessage;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttConnectPayload;
import io.netty.handler.codec.mqtt.MqttConnectVariableHeader;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttPublishVariableHeader;
import io.netty.handler.codec.mqtt.MqttQoS;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InterceptorBusTest {

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    static MqttConnectMessage connect(String clientId, String user, String password) {
        MqttFixedHeader fixed = new MqttFixedHeader(MqttMessageType.CONNECT, false, MqttQoS.AT_MOST_ONCE, false, 0);
        MqttConnectVariableHeader var = new MqttConnectVariableHeader("MQTT", 5, true, true, false, 1, true, true, 30);
        MqttConnectPayload payload = new MqttConnectPayload(clientId, MqttProperties.NO_PROPERTIES, "will/t",
                "bye".getBytes(StandardCharsets.UTF_8), user, password.getBytes(StandardCharsets.UTF_8));
        return new MqttConnectMessage(fixed, var, payload);
    }

    /** A publish whose payload lives in a pooled direct buffer, as Netty's decoder gives it. */
    static MqttPublishMessage publish(String topic, String payload, int qos) {
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer();
        buf.writeBytes(payload.getBytes(StandardCharsets.UTF_8));
        MqttFixedHeader fixed = new MqttFixedHeader(MqttMessageType.PUBLISH, false, MqttQoS.valueOf(qos), true, 0);
        return new MqttPublishMessage(fixed, new MqttPublishVariableHeader(topic, 7), buf);
    }

    private static void everyEvent(InterceptorBus bus) {
        MqttConnectMessage c = connect("c1", "alice", "pw");
        bus.connected(c);
        Arrays.fill(c.payload().passwordInBytes(), (byte) 'X'); // the broker may clear it afterwards
        MqttPublishMessage p = publish("a/b", "hello", 1);
        bus.published(p, "c1", "alice");
        ByteBuf callersBuffer = p.payload();
        p.release(); // the caller releases right away; the bus must have copied, not retained
        assertEquals(0, callersBuffer.refCnt(), "the bus kept a reference to the caller's buffer");
        bus.subscribed("c1", "alice", "a/#", 2);
        bus.unsubscribed("c1", "alice", "a/#");
        bus.acknowledged("c2", "bob", "a/b", 42);
        bus.disconnected("c1", "alice");
        bus.connectionLost("c2", "bob");
    }

    private static final List<String> EVERY_EVENT = List.of(
            "connect c1 alice 5 will=will/t:bye pw=pw",
            "publish c1 alice a/b 1 true hello",
            "subscribe c1 alice a/# 2",
            "unsubscribe c1 alice a/#",
            "ack bob a/b 42",
            "disconnect c1 alice",
            "lost c2 bob");

    @Test
    void everyEventTypeArrivesInOrderOffTheEventLoop() throws Exception {
        RecordingHandler h = new RecordingHandler();
        EventLoop loop = new DefaultEventLoop();
        try (InterceptorBus bus = new InterceptorBus(List.of(h), registry)) {
            assertFalse(bus.isEmpty());
            // called from a Netty event loop, as the protocol handler does
            loop.submit(() -> everyEvent(bus)).get(5, TimeUnit.SECONDS);
            for (String expected : EVERY_EVENT) {
                assertEquals(expected, h.next());
            }
            for (Thread t : h.threads) {
                assertTrue(t.getName().startsWith("durablemq-interceptor-recorder"), t.getName());
                assertFalse(loop.inEventLoop(t));
            }
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    @Test
    void aThrowingHandlerIsIsolated() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        AbstractInterceptHandler thrower = new AbstractInterceptHandler() {
            @Override
            public String getID() {
                return "thrower";
            }

            @Override
            public void onSessionLoopError(Throwable error) {
            }

            @Override
            public void onConnect(InterceptConnectMessage msg) {
                calls.incrementAndGet();
                throw new IllegalStateException("plugin bug");
            }

            @Override
            public void onPublish(InterceptPublishMessage msg) {
                calls.incrementAndGet();
                throw new OutOfMemoryError("even an Error must not stop the worker");
            }
        };
        RecordingHandler h = new RecordingHandler();
        try (InterceptorBus bus = new InterceptorBus(List.of(thrower, h), registry)) {
            everyEvent(bus);
            everyEvent(bus); // the thrower's worker survives the first round
            for (int round = 0; round < 2; round++) {
                for (String expected : EVERY_EVENT) {
                    assertEquals(expected, h.next());
                }
            }
        }
        assertEquals(4, calls.get());
        assertEquals(4, registry.get("durablemq.interceptor.errors").tag("handler", "thrower").counter().count());
        assertEquals(0, registry.get("durablemq.interceptor.errors").tag("handler", "recorder").counter().count());
    }

    @Test
    void onlyTheRequestedEventTypesAreDelivered() throws Exception {
        RecordingHandler publishesOnly = new RecordingHandler("pub-only") {
            @Override
            public Class<?>[] getInterceptedMessageTypes() {
                return new Class<?>[] {InterceptPublishMessage.class};
            }
        };
        try (InterceptorBus bus = new InterceptorBus(List.of(publishesOnly), registry)) {
            everyEvent(bus);
        } // close() drains the queue
        assertEquals(List.of("publish c1 alice a/b 1 true hello"), List.copyOf(publishesOnly.events));
    }

    @Test
    void aSlowHandlerLosesEventsButNeverBlocksTheBroker() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        RecordingHandler stuck = new RecordingHandler("stuck") {
            @Override
            public void onPublish(InterceptPublishMessage msg) {
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                super.onPublish(msg);
            }
        };
        RecordingHandler fast = new RecordingHandler("fast");
        try (InterceptorBus bus = new InterceptorBus(List.of(stuck, fast), registry, 4, 1 << 20)) {
            long start = System.nanoTime();
            for (int i = 0; i < 100; i++) {
                MqttPublishMessage p = publish("t", "m" + i, 0);
                bus.published(p, "c", null);
                p.release();
                // the healthy handler keeps receiving every event while the other one hangs
                assertEquals("publish c null t 0 true m" + i, fast.next());
            }
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "publishing must not wait");
            double dropped = registry.get("durablemq.interceptor.dropped").tag("handler", "stuck").counter().count();
            // one event in the hung handler, four queued: the rest are dropped and counted
            assertTrue(dropped >= 95 && dropped <= 96, "dropped " + dropped);
            release.countDown();
            assertEquals(0, registry.get("durablemq.interceptor.dropped").tag("handler", "fast").counter().count());
        }
    }

    @Test
    void payloadByteBudgetBoundsTheQueue() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        RecordingHandler stuck = new RecordingHandler("bytes") {
            @Override
            public void onPublish(InterceptPublishMessage msg) {
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        try (InterceptorBus bus = new InterceptorBus(List.of(stuck), registry, 1_000, 100)) {
            String payload = "x".repeat(40);
            for (int i = 0; i < 10; i++) {
                MqttPublishMessage p = publish("t", payload, 0);
                bus.published(p, "c", null);
                p.release();
            }
            double dropped = registry.get("durablemq.interceptor.dropped").tag("handler", "bytes").counter().count();
            // 100 bytes hold two 40-byte payloads (plus one already taken by the handler)
            assertTrue(dropped >= 7 && dropped <= 8, "dropped " + dropped);
            release.countDown();
        }
    }

    @Test
    void loadsHandlersNamedInTheConfig() throws Exception {
        BrokerConfig config = BrokerConfig.defaults().toBuilder()
                .interceptHandlers(List.of(RecordingHandler.class.getName(), ConfiguredHandler.class.getName()))
                .properties(Map.of("plugin.interceptor.id", "from-config"))
                .build();
        try (InterceptorBus bus = InterceptorBus.fromConfig(config, registry)) {
            bus.disconnected("c", "u");
        }
        // both workers registered their metrics under their ids
        registry.get("durablemq.interceptor.errors").tag("handler", "recorder").counter();
        registry.get("durablemq.interceptor.errors").tag("handler", "from-config").counter();

        BrokerConfig bad = BrokerConfig.defaults().toBuilder().interceptHandlers(List.of("com.example.Nope")).build();
        assertEquals("intercept.handler: class com.example.Nope not found on the class path (put its jar next to the "
                        + "broker jar and add it to the class path)",
                assertThrows(BrokerConfigException.class, () -> InterceptorBus.fromConfig(bad, registry)).getMessage());
        try (InterceptorBus empty = InterceptorBus.fromConfig(BrokerConfig.defaults(), registry)) {
            assertTrue(empty.isEmpty());
            empty.published(publish("t", "x", 0), "c", null); // no handler: nothing to do, no copy kept
        }
    }
}
