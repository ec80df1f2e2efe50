package io.durablemq.broker.protocol;

import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.message.UserProperty;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;

import java.util.List;

/**
 * Encodes an outbound PUBLISH straight into one buffer of its exact size.
 *
 * <p>Why not Netty's {@code MqttEncoder}: for every delivered message it needed an
 * {@code MqttProperties} map, a wrapped payload, the message and header objects, and on MQTT 5
 * a second pooled buffer for the properties, copied into the first. A backlog drain sends one
 * PUBLISH per PUBACK on the subscriber's event loop, so that was per-message work on the
 * drain's busiest thread (benchmarks/RESULTS.md, "Backlog drain: CPU per message (s22)").
 * The bytes are the same packet (MQTT 3.1.1 3.3, MQTT 5 3.3); properties go in the order
 * {@link MqttProps#outbound} adds them. Proved against Netty's own decoder by
 * {@code PublishEncoderTest}.
 */
final class PublishEncoder {
    private PublishEncoder() {
    }

    /**
     * The whole PUBLISH packet. {@code remainingExpirySeconds} below 0: no expiry property;
     * {@code packetId} is written only for QoS 1 and 2; properties only when {@code mqtt5}.
     */
    static ByteBuf encode(ByteBufAllocator alloc, String topic, int qos, boolean dup, boolean retain, int packetId,
                          byte[] payload, MessageProperties mp, long remainingExpirySeconds,
                          List<Integer> subscriptionIds, boolean mqtt5) {
        int total = size(topic, qos, payload, mp, remainingExpirySeconds, subscriptionIds, mqtt5);
        ByteBuf buf = alloc.buffer(total, total);
        try {
            write(buf, total, topic, qos, dup, retain, packetId, payload, mp, remainingExpirySeconds, subscriptionIds, mqtt5);
            return buf;
        } catch (RuntimeException e) {
            buf.release();
            throw e;
        }
    }

    /** The whole packet's size in bytes, as {@link #write} writes it. */
    static int size(String topic, int qos, byte[] payload, MessageProperties mp, long remainingExpirySeconds,
                    List<Integer> subscriptionIds, boolean mqtt5) {
        int remaining = remainingLength(ByteBufUtil.utf8Bytes(topic), qos, payload,
                mqtt5 ? propertiesLength(mp, remainingExpirySeconds, subscriptionIds) : 0, mqtt5);
        return 1 + varIntSize(remaining) + remaining;
    }

    private static int remainingLength(int topicBytes, int qos, byte[] payload, int propertyBytes, boolean mqtt5) {
        return 2 + topicBytes + (qos > 0 ? 2 : 0) + (mqtt5 ? varIntSize(propertyBytes) + propertyBytes : 0) + payload.length;
    }

    /**
     * Appends the packet to {@code buf}, which must have room for {@code size} more bytes (the
     * value of {@link #size}); throws, with {@code buf} partly written, if the two disagree.
     */
    static void write(ByteBuf buf, int size, String topic, int qos, boolean dup, boolean retain, int packetId,
                      byte[] payload, MessageProperties mp, long remainingExpirySeconds,
                      List<Integer> subscriptionIds, boolean mqtt5) {
        int start = buf.writerIndex();
        int topicBytes = ByteBufUtil.utf8Bytes(topic);
        int propertyBytes = mqtt5 ? propertiesLength(mp, remainingExpirySeconds, subscriptionIds) : 0;
        int remaining = remainingLength(topicBytes, qos, payload, propertyBytes, mqtt5);
        buf.writeByte((MqttMessageType.PUBLISH.value() << 4) | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));
        writeVarInt(buf, remaining);
        buf.writeShort(topicBytes);
        ByteBufUtil.reserveAndWriteUtf8(buf, topic, topicBytes);
        if (qos > 0) {
            buf.writeShort(packetId);
        }
        if (mqtt5) {
            writeVarInt(buf, propertyBytes);
            writeProperties(buf, mp, remainingExpirySeconds, subscriptionIds);
        }
        buf.writeBytes(payload);
        if (buf.writerIndex() - start != size) {
            // A size computed apart from the writes disagreed with them: never send a malformed packet.
            throw new IllegalStateException("PUBLISH on '" + topic + "' encoded to " + (buf.writerIndex() - start)
                    + " bytes, computed " + size);
        }
    }

    private static int propertiesLength(MessageProperties mp, long remainingExpirySeconds, List<Integer> subscriptionIds) {
        int p = 0;
        if (mp.payloadFormatIndicator() != null) {
            p += 2;
        }
        if (remainingExpirySeconds >= 0) {
            p += 5;
        }
        if (mp.contentType() != null) {
            p += 3 + ByteBufUtil.utf8Bytes(mp.contentType());
        }
        if (mp.responseTopic() != null) {
            p += 3 + ByteBufUtil.utf8Bytes(mp.responseTopic());
        }
        if (mp.correlationData() != null) {
            p += 3 + mp.correlationData().length;
        }
        for (UserProperty u : mp.userProperties()) {
            p += 5 + ByteBufUtil.utf8Bytes(u.name()) + ByteBufUtil.utf8Bytes(u.value());
        }
        for (Integer id : subscriptionIds) {
            if (id != null && id > 0) {
                p += 1 + varIntSize(id);
            }
        }
        return p;
    }

    /** The same properties, in the same order, as {@link MqttProps#outbound} (identifiers are all below 128: one byte each). */
    private static void writeProperties(ByteBuf buf, MessageProperties mp, long remainingExpirySeconds,
                                        List<Integer> subscriptionIds) {
        if (mp.payloadFormatIndicator() != null) {
            buf.writeByte(MqttPropertyType.PAYLOAD_FORMAT_INDICATOR.value());
            buf.writeByte(mp.payloadFormatIndicator());
        }
        if (remainingExpirySeconds >= 0) {
            buf.writeByte(MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL.value());
            buf.writeInt((int) Math.min(remainingExpirySeconds, 0xFFFF_FFFFL));
        }
        if (mp.contentType() != null) {
            buf.writeByte(MqttPropertyType.CONTENT_TYPE.value());
            writeString(buf, mp.contentType());
        }
        if (mp.responseTopic() != null) {
            buf.writeByte(MqttPropertyType.RESPONSE_TOPIC.value());
            writeString(buf, mp.responseTopic());
        }
        if (mp.correlationData() != null) {
            buf.writeByte(MqttPropertyType.CORRELATION_DATA.value());
            buf.writeShort(mp.correlationData().length);
            buf.writeBytes(mp.correlationData());
        }
        for (UserProperty u : mp.userProperties()) {
            buf.writeByte(MqttPropertyType.USER_PROPERTY.value());
            writeString(buf, u.name());
            writeString(buf, u.value());
        }
        for (Integer id : subscriptionIds) {
            if (id != null && id > 0) {
                buf.writeByte(MqttPropertyType.SUBSCRIPTION_IDENTIFIER.value());
                writeVarInt(buf, id);
            }
        }
    }

    private static void writeString(ByteBuf buf, String s) {
        int n = ByteBufUtil.utf8Bytes(s);
        buf.writeShort(n);
        ByteBufUtil.reserveAndWriteUtf8(buf, s, n);
    }

    static int varIntSize(int value) {
        int n = 1;
        while (value >= 128) {
            value >>>= 7;
            n++;
        }
        return n;
    }

    /** MQTT's variable byte integer (1.5.5 / 2.2.3): 7 bits a byte, least significant first. */
    private static void writeVarInt(ByteBuf buf, int value) {
        do {
            int digit = value & 0x7F;
            value >>>= 7;
            buf.writeByte(value > 0 ? digit | 0x80 : digit);
        } while (value > 0);
    }
}
