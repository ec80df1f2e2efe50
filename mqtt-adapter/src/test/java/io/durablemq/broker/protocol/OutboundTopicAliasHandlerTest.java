package io.durablemq.broker.protocol;

import io.durablemq.broker.metrics.BrokerMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttPublishVariableHeader;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttVersion;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The handler between Netty's real MQTT encoder and decoder, as the broker installs it, with a
 * client-side codec decoding what it writes: the wire packets, their sizes, and the payload
 * buffers' reference counts (each must be released exactly once, by the encoder). Payloads come
 * from the pooled allocator so {@code -Dio.netty.leakDetection.level=paranoid} tracks them.
 */
class OutboundTopicAliasHandlerTest {
    private final BrokerMetrics metrics = new BrokerMetrics(new SimpleMeterRegistry());
    private final List<ByteBuf> payloads = new ArrayList<>();
    private EmbeddedChannel server;
    /** The client's side of the wire: its encoder wrote the CONNECT, so its decoder reads MQTT 5. */
    private EmbeddedChannel client;

    private record Wire(String topic, Integer alias, String payload, int bytes, MqttProperties props) {
    }

    private void connect(int brokerMaximum, MqttVersion version, MqttProperties connectProps) {
        connect(new OutboundTopicAliasHandler(brokerMaximum, metrics), version, connectProps);
    }

    private void connect(OutboundTopicAliasHandler handler, MqttVersion version, MqttProperties connectProps) {
        server = new EmbeddedChannel(new MqttDecoder(), MqttEncoder.INSTANCE, handler);
        client = new EmbeddedChannel(new MqttDecoder(), MqttEncoder.INSTANCE);
        var builder = MqttMessageBuilders.connect().protocolVersion(version).clientId("c").cleanSession(true);
        if (version == MqttVersion.MQTT_5) {
            builder.properties(connectProps);
        }
        client.writeOutbound(builder.build());
        ByteBuf connectBytes = client.readOutbound();
        server.writeInbound(connectBytes);
        Object connect = server.readInbound();
        assertEquals(MqttMessageType.CONNECT, ((io.netty.handler.codec.mqtt.MqttMessage) connect).fixedHeader().messageType(),
                "the CONNECT is passed on");
    }

    private static MqttProperties topicAliasMaximum(int max) {
        MqttProperties p = new MqttProperties();
        p.add(new MqttProperties.IntegerProperty(MqttPropertyType.TOPIC_ALIAS_MAXIMUM.value(), max));
        return p;
    }

    private MqttPublishMessage publish(String topic, String payload, MqttProperties props) {
        byte[] bytes = payload.getBytes(StandardCharsets.UTF_8);
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.buffer(bytes.length).writeBytes(bytes);
        payloads.add(buf);
        return new MqttPublishMessage(new MqttFixedHeader(MqttMessageType.PUBLISH, false, MqttQoS.AT_LEAST_ONCE, false, 0),
                new MqttPublishVariableHeader(topic, 7, props), buf);
    }

    private Wire send(String topic, String payload) {
        return send(publish(topic, payload, MqttProperties.NO_PROPERTIES));
    }

    private Wire send(MqttPublishMessage publish) {
        server.writeOutbound(publish);
        ByteBuf wire = server.readOutbound();
        int bytes = wire.readableBytes();
        client.writeInbound(wire);
        MqttPublishMessage got = client.readInbound();
        try {
            MqttProperties props = got.variableHeader().properties();
            MqttProperties.MqttProperty<?> alias = props.getProperty(MqttPropertyType.TOPIC_ALIAS.value());
            return new Wire(got.variableHeader().topicName(), alias == null ? null : (Integer) alias.value(),
                    got.payload().toString(StandardCharsets.UTF_8), bytes, props);
        } finally {
            got.release();
        }
    }

    @AfterEach
    void everyPayloadReleasedExactlyOnce() {
        for (ByteBuf p : payloads) {
            assertEquals(0, p.refCnt(), "payload released once by the encoder");
        }
        if (server != null) {
            assertFalse(server.finishAndReleaseAll(), "nothing left unread");
            client.finishAndReleaseAll();
        }
    }

    @Test
    void firstUseSendsTopicAndAliasLaterUsesOnlyTheAliasKeepingEveryOtherProperty() {
        connect(32, MqttVersion.MQTT_5, topicAliasMaximum(10));
        MqttProperties props = new MqttProperties();
        props.add(new MqttProperties.IntegerProperty(MqttPropertyType.PAYLOAD_FORMAT_INDICATOR.value(), 1));
        props.add(new MqttProperties.IntegerProperty(MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL.value(), 60));
        props.add(new MqttProperties.StringProperty(MqttPropertyType.CONTENT_TYPE.value(), "text/plain"));
        props.add(new MqttProperties.StringProperty(MqttPropertyType.RESPONSE_TOPIC.value(), "reply/here"));
        props.add(new MqttProperties.BinaryProperty(MqttPropertyType.CORRELATION_DATA.value(), new byte[] {1, 2, 3}));
        MqttProperties.UserProperties users = new MqttProperties.UserProperties();
        users.add("k", "1");
        users.add("k", "2");
        users.add("a", "3");
        props.add(users);
        props.add(new MqttProperties.IntegerProperty(MqttPropertyType.SUBSCRIPTION_IDENTIFIER.value(), 5));
        props.add(new MqttProperties.IntegerProperty(MqttPropertyType.SUBSCRIPTION_IDENTIFIER.value(), 300));

        Wire first = send(publish("sensors/kitchen/temp", "21", props));
        Wire second = send(publish("sensors/kitchen/temp", "22", props));
        Wire plainFirst = send(publish("sensors/kitchen/hum", "40", MqttProperties.NO_PROPERTIES));

        assertEquals("sensors/kitchen/temp", first.topic());
        assertEquals(1, first.alias());
        assertEquals("", second.topic(), "the second use sends no topic");
        assertEquals(1, second.alias());
        assertEquals("22", second.payload());
        assertEquals(first.bytes() - "sensors/kitchen/temp".length(), second.bytes());
        assertEquals("sensors/kitchen/hum", plainFirst.topic());
        assertEquals(2, plainFirst.alias());
        for (Wire w : List.of(first, second)) {
            MqttProperties p = w.props();
            assertEquals(1, p.getProperty(MqttPropertyType.PAYLOAD_FORMAT_INDICATOR.value()).value());
            assertEquals(60, p.getProperty(MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL.value()).value());
            assertEquals("text/plain", p.getProperty(MqttPropertyType.CONTENT_TYPE.value()).value());
            assertEquals("reply/here", p.getProperty(MqttPropertyType.RESPONSE_TOPIC.value()).value());
            assertArrayEquals(new byte[] {1, 2, 3}, (byte[]) p.getProperty(MqttPropertyType.CORRELATION_DATA.value()).value());
            List<String> userPairs = new ArrayList<>();
            for (MqttProperties.MqttProperty<?> u : p.getProperties(MqttPropertyType.USER_PROPERTY.value())) {
                MqttProperties.StringPair pair = ((MqttProperties.UserProperty) u).value();
                userPairs.add(pair.key + "=" + pair.value);
            }
            assertEquals(List.of("k=1", "k=2", "a=3"), userPairs, "user properties in order");
            List<Object> subIds = new ArrayList<>();
            p.getProperties(MqttPropertyType.SUBSCRIPTION_IDENTIFIER.value()).forEach(s -> subIds.add(s.value()));
            assertEquals(List.of(5, 300), subIds);
        }
        assertEquals(2.0, counter("assigned"));
        assertEquals(1.0, counter("reused"));
    }

    @Test
    void onceAllAliasesAreTakenATopicSeenTwiceTakesTheColdestOnesAlias() {
        connect(32, MqttVersion.MQTT_5, topicAliasMaximum(2));
        List<String> sent = new ArrayList<>();
        for (String t : List.of("al/one", "al/one", "al/two", "al/three", "al/one", "al/three", "al/two")) {
            Wire w = send(t, t);
            assertEquals(t, w.payload());
            sent.add(w.topic() + "#" + w.alias());
        }
        // al/three seen once: sent plain; seen twice, it is hotter than al/two (used once), which
        // gives up alias 2; al/two, now seen once without an alias, is sent plain.
        assertEquals(List.of("al/one#1", "#1", "al/two#2", "al/three#null", "#1", "al/three#2", "al/two#null"), sent);
        assertEquals(1.0, counter("evicted"));
    }

    /**
     * A subscriber of many devices sees topics in a cycle longer than the table: the aliases stay
     * with the first topics and the stream is smaller than without aliases. (Least recently used
     * eviction would reassign on every packet and make it 3 bytes per packet larger.)
     */
    @Test
    void aCycleOfMoreTopicsThanAliasesKeepsTheTableAndSavesBytes() {
        int aliased = cycleBytes(32);
        everyPayloadReleasedExactlyOnce();
        int plain = cycleBytes(0);
        System.out.printf("100 topics x 20 rounds, 32 aliases: %d bytes on the wire, %d without aliases%n", aliased, plain);
        assertTrue(aliased < plain, aliased + " < " + plain);
        assertEquals(0.0, counter("evicted"));
    }

    private int cycleBytes(int brokerMaximum) {
        connect(brokerMaximum, MqttVersion.MQTT_5, topicAliasMaximum(32));
        int bytes = 0;
        for (int round = 0; round < 20; round++) {
            for (int device = 0; device < 100; device++) {
                String topic = "devices/" + device + "/telemetry";
                Wire w = send(topic, "{\"t\":21}");
                assertEquals("{\"t\":21}", w.payload());
                bytes += w.bytes();
            }
        }
        return bytes;
    }

    @Test
    void theSmallerOfTheClientsAndTheBrokersMaximumBoundsTheAliases() {
        connect(2, MqttVersion.MQTT_5, topicAliasMaximum(100));
        assertEquals(1, send("al/one", "x").alias());
        assertEquals(2, send("al/two", "x").alias());
        assertNull(send("al/three", "x").alias(), "no alias 3: the broker's maximum of 2 holds");
        Wire again = send("al/three", "x");
        assertEquals("al/three", again.topic());
        assertEquals(1, again.alias(), "seen twice: takes the alias of the coldest, least recently used topic");
    }

    @Test
    void offWhenTheClientAsksForNoneOrTheBrokerAllowsNone() {
        connect(0, MqttVersion.MQTT_5, topicAliasMaximum(10));
        assertNull(server.pipeline().get(OutboundTopicAliasHandler.class), "removed itself: broker maximum 0");
        for (int i = 0; i < 2; i++) {
            Wire w = send("al/one", "x");
            assertEquals("al/one", w.topic());
            assertNull(w.alias());
        }
        everyPayloadReleasedExactlyOnce();
        connect(32, MqttVersion.MQTT_5, MqttProperties.NO_PROPERTIES);
        assertNull(server.pipeline().get(OutboundTopicAliasHandler.class), "removed itself: no Topic Alias Maximum");
        assertNull(send("al/one", "x").alias());
        assertNull(send("al/one", "x").alias());
    }

    @Test
    void anMqtt311ConnectionNeverGetsAliases() {
        connect(32, MqttVersion.MQTT_3_1_1, null);
        assertNull(server.pipeline().get(OutboundTopicAliasHandler.class));
        for (int i = 0; i < 2; i++) {
            Wire w = send("al/one", "x");
            assertEquals("al/one", w.topic());
            assertNull(w.alias());
        }
    }

    @Test
    void topicsShorterThanAnAliasAreSentAsTheyAre() {
        connect(32, MqttVersion.MQTT_5, topicAliasMaximum(10));
        for (int i = 0; i < 2; i++) {
            Wire w = send("a/b", "x");
            assertEquals("a/b", w.topic());
            assertNull(w.alias());
        }
        assertEquals(1, send("a/bc", "x").alias());
    }

    @Test
    void neverExceedsTheClientsMaximumPacketSize() {
        // What the plain packet of topic al/one with a 10-byte payload and QoS 1 takes on the wire:
        // fixed header 2, topic 2+6, packet id 2, property length 1, payload 10.
        int plainSize = 2 + 8 + 2 + 1 + 10;
        MqttProperties props = topicAliasMaximum(10);
        props.add(new MqttProperties.IntegerProperty(MqttPropertyType.MAXIMUM_PACKET_SIZE.value(), plainSize));
        connect(32, MqttVersion.MQTT_5, props);

        Wire full = send("al/one", "0123456789");
        assertEquals(plainSize, full.bytes());
        assertEquals("al/one", full.topic());
        assertNull(full.alias(), "topic + alias would be 3 bytes over the client's maximum");

        Wire shorter = send("al/one", "0123456");
        assertEquals("al/one", shorter.topic());
        assertEquals(1, shorter.alias(), "3 bytes less payload: topic + alias fits exactly");
        assertEquals(plainSize, shorter.bytes());

        Wire reuse = send("al/one", "0123456789");
        assertEquals("", reuse.topic());
        assertEquals(1, reuse.alias());
        assertTrue(reuse.bytes() <= plainSize);
    }

    @Test
    void anAliasWhosePacketWasNotWrittenIsNeverReused() {
        OutboundTopicAliasHandler handler = new OutboundTopicAliasHandler(32, metrics);
        connect(handler, MqttVersion.MQTT_5, topicAliasMaximum(10));
        // Fails the first write below the alias handler, as a dying socket would.
        server.pipeline().addBefore(server.pipeline().context(handler).name(), "fail-once",
                new ChannelOutboundHandlerAdapter() {
                    private boolean failed;

                    @Override
                    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
                        if (!failed) {
                            failed = true;
                            ReferenceCountUtil.release(msg);
                            promise.setFailure(new java.io.IOException("write failed"));
                            return;
                        }
                        ctx.write(msg, promise);
                    }
                });
        var lost = server.writeOneOutbound(publish("al/one", "lost", MqttProperties.NO_PROPERTIES));
        server.flushOutbound();
        assertFalse(lost.isSuccess());
        assertNull(server.readOutbound());
        assertEquals(0, handler.aliasesInUse(), "the alias of the lost packet is forgotten");
        Wire next = send("al/one", "kept");
        assertEquals("al/one", next.topic(), "the client is told the topic again");
        assertEquals(1, next.alias());
    }

    private double counter(String event) {
        return metrics.registry().get("durablemq.outbound.topic.aliases").tag("event", event).counter().count();
    }
}
