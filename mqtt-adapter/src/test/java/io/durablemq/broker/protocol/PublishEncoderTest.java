package io.durablemq.broker.protocol;

import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.message.UserProperty;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttVersion;
import io.netty.util.AttributeKey;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PublishEncoder} against Netty's own MQTT codec: each packet it writes is decoded by
 * Netty's {@code MqttDecoder} into the fields and properties it was given, and where the property
 * order cannot differ (MQTT 3.1.1, MQTT 5 with at most one property) it is byte for byte what
 * Netty's {@code MqttEncoder} writes for the message {@link MqttProps#outbound} builds.
 */
class PublishEncoderTest {
    /** Netty's codec reads the protocol version of a channel from this attribute (set by a CONNECT). */
    private static final AttributeKey<MqttVersion> VERSION = AttributeKey.valueOf("NETTY_CODEC_MQTT_VERSION");

    private static final byte[] PAYLOAD = "a payload of some bytes".getBytes(StandardCharsets.UTF_8);

    @Test
    void mqtt311PacketsAreNettysBytes() {
        for (int qos = 0; qos <= 2; qos++) {
            for (boolean flag : new boolean[] {false, true}) {
                assertSameBytesAsNetty(false, "sensors/é/temp", qos, flag, !flag, 0x1234, PAYLOAD, MessageProperties.NONE, -1, List.of());
            }
        }
        assertSameBytesAsNetty(false, "t", 1, false, false, 65535, new byte[0], MessageProperties.NONE, -1, List.of());
        // A remaining length of three bytes (over 16,383).
        assertSameBytesAsNetty(false, "big", 1, false, false, 7, new byte[20_000], MessageProperties.NONE, -1, List.of());
    }

    @Test
    void mqtt5PacketsWithAtMostOnePropertyAreNettysBytes() {
        assertSameBytesAsNetty(true, "a/b", 1, false, false, 1, PAYLOAD, MessageProperties.NONE, -1, List.of());
        assertSameBytesAsNetty(true, "a/b", 0, false, true, 0, PAYLOAD, MessageProperties.NONE, 3600, List.of());
        assertSameBytesAsNetty(true, "a/b", 2, true, false, 9, PAYLOAD, MessageProperties.NONE, -1, List.of(300_000));
        assertSameBytesAsNetty(true, "a/b", 1, false, false, 9, PAYLOAD,
                new MessageProperties(null, "text/plain; ü", null, null, List.of()), -1, List.of());
        assertSameBytesAsNetty(true, "a/b", 1, false, false, 9, new byte[200_000], MessageProperties.NONE, -1, List.of());
    }

    @Test
    void mqtt5PacketsWithEveryPropertyDecodeToWhatWasGiven() {
        MessageProperties mp = new MessageProperties(1, "application/json", "reply/to/ü", new byte[] {1, 2, 3, 0, -1},
                List.of(new UserProperty("k1", "v1"), new UserProperty("k1", "v2"), new UserProperty("ключ", "")));
        List<Integer> ids = List.of(1, 127, 128, 16_384, 268_435_455);
        ByteBuf mine = PublishEncoder.encode(PooledByteBufAllocator.DEFAULT, "x/y/z", 2, true, true, 4321, PAYLOAD,
                mp, 0xFFFF_FFFFL + 5, ids, true);
        MqttPublishMessage p = decode(mine, MqttVersion.MQTT_5);
        try {
            assertEquals("x/y/z", p.variableHeader().topicName());
            assertEquals(2, p.fixedHeader().qosLevel().value());
            assertTrue(p.fixedHeader().isDup());
            assertTrue(p.fixedHeader().isRetain());
            assertEquals(4321, p.variableHeader().packetId());
            assertArrayEquals(PAYLOAD, ByteBufUtil.getBytes(p.payload()));
            MqttProperties props = p.variableHeader().properties();
            assertEquals(1, props.getProperty(MqttPropertyType.PAYLOAD_FORMAT_INDICATOR.value()).value());
            // Capped at the four-byte maximum, as MqttProps.outbound does.
            assertEquals((int) 0xFFFF_FFFFL, props.getProperty(MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL.value()).value());
            assertEquals("application/json", props.getProperty(MqttPropertyType.CONTENT_TYPE.value()).value());
            assertEquals("reply/to/ü", props.getProperty(MqttPropertyType.RESPONSE_TOPIC.value()).value());
            assertArrayEquals(new byte[] {1, 2, 3, 0, -1},
                    (byte[]) props.getProperty(MqttPropertyType.CORRELATION_DATA.value()).value());
            List<String> users = new ArrayList<>();
            for (MqttProperties.MqttProperty<?> u : props.getProperties(MqttPropertyType.USER_PROPERTY.value())) {
                MqttProperties.StringPair pair = ((MqttProperties.UserProperty) u).value();
                users.add(pair.key + "=" + pair.value);
            }
            assertEquals(List.of("k1=v1", "k1=v2", "ключ="), users);
            List<Integer> decodedIds = new ArrayList<>();
            for (MqttProperties.MqttProperty<?> id : props.getProperties(MqttPropertyType.SUBSCRIPTION_IDENTIFIER.value())) {
                decodedIds.add((Integer) id.value());
            }
            assertEquals(ids, decodedIds);
        } finally {
            p.release();
        }
    }

    @Test
    void qos0CarriesNoPacketIdAndMqtt311NoProperties() {
        ByteBuf mine = PublishEncoder.encode(PooledByteBufAllocator.DEFAULT, "t", 0, false, false, 777, PAYLOAD,
                new MessageProperties(0, "ct", null, null, List.of()), 60, List.of(5), false);
        MqttPublishMessage p = decode(mine, MqttVersion.MQTT_3_1_1);
        try {
            assertEquals(-1, p.variableHeader().packetId()); // absent
            assertArrayEquals(PAYLOAD, ByteBufUtil.getBytes(p.payload()));
            assertNull(p.variableHeader().properties().getProperty(MqttPropertyType.CONTENT_TYPE.value()));
        } finally {
            p.release();
        }
    }

    private static void assertSameBytesAsNetty(boolean v5, String topic, int qos, boolean dup, boolean retain, int packetId,
                                               byte[] payload, MessageProperties mp, long expiry, List<Integer> ids) {
        ByteBuf mine = PublishEncoder.encode(PooledByteBufAllocator.DEFAULT, topic, qos, dup, retain, packetId, payload,
                mp, expiry, ids, v5);
        EmbeddedChannel netty = new EmbeddedChannel(MqttEncoder.INSTANCE);
        netty.attr(VERSION).set(v5 ? MqttVersion.MQTT_5 : MqttVersion.MQTT_3_1_1);
        MqttProperties props = v5 ? MqttProps.outbound(mp, expiry, ids) : MqttProperties.NO_PROPERTIES;
        netty.writeOutbound(Packets.publish(topic, qos, dup, retain, packetId, payload, props));
        ByteBuf theirs = collect(netty);
        try {
            assertArrayEquals(ByteBufUtil.getBytes(theirs), ByteBufUtil.getBytes(mine),
                    "PUBLISH on " + topic + " qos " + qos + " v5 " + v5);
            assertEquals(mine.readableBytes(), mine.capacity(), "allocated exactly the packet's size");
        } finally {
            mine.release();
            theirs.release();
            netty.finishAndReleaseAll();
        }
    }

    private static ByteBuf collect(EmbeddedChannel ch) {
        ByteBuf all = PooledByteBufAllocator.DEFAULT.buffer();
        ByteBuf part;
        while ((part = ch.readOutbound()) != null) {
            all.writeBytes(part);
            part.release();
        }
        return all;
    }

    private static MqttPublishMessage decode(ByteBuf packet, MqttVersion version) {
        EmbeddedChannel ch = new EmbeddedChannel(new MqttDecoder(1 << 20));
        ch.attr(VERSION).set(version);
        ch.writeInbound(packet);
        MqttPublishMessage p = ch.readInbound();
        assertTrue(p.decoderResult().isSuccess(), () -> "decoded: " + p.decoderResult());
        ch.finish();
        return p;
    }
}
