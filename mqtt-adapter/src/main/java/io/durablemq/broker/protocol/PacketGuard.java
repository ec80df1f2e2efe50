package io.durablemq.broker.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.mqtt.MqttMessage;

import java.util.List;

/**
 * Frames the byte stream into whole MQTT packets and checks what Netty's {@code MqttDecoder}
 * (4.1.x) lets through, before handing each packet on to it: remaining length (at most 4 bytes,
 * total size within {@code netty.mqtt.message_size}, refused as soon as the header is read, so
 * no oversized packet is ever buffered), reserved fixed-header flags, strict UTF-8 without
 * U+0000 in every string, wildcards in a PUBLISH topic, packet id 0, SUBSCRIBE option bits,
 * and MQTT 5 properties (unknown or not allowed for the packet, given twice, bad values).
 *
 * <p>The first bad packet ends the stream: every later byte is discarded and one failed
 * {@link MqttMessage} carrying a {@link ProtocolViolation} goes to {@link MqttConnection},
 * which closes the connection with that reason (MQTT 5: DISCONNECT first).
 */
public final class PacketGuard extends ByteToMessageDecoder {
    public static final String NAME = "mqtt-guard";
    private static final int MQTT_5 = 5;

    private static final byte MALFORMED = ReasonCodes.MALFORMED_PACKET;
    private static final byte PROTOCOL = ReasonCodes.PROTOCOL_ERROR;

    private final int maxPacketSize;
    /** 0 until the first CONNECT was seen; then its protocol level (3, 4 or 5). */
    private int protocolLevel;
    private boolean failed;

    public PacketGuard(int maxPacketSize) {
        this.maxPacketSize = maxPacketSize;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        int start = in.readerIndex();
        int end = in.writerIndex();
        if (end - start < 2) {
            return;
        }
        int first = in.getUnsignedByte(start);
        int remaining = 0;
        int shift = 0;
        int pos = start + 1;
        try {
            while (true) {
                if (pos >= end) {
                    return; // the length is not complete yet
                }
                int digit = in.getUnsignedByte(pos++);
                remaining |= (digit & 0x7F) << shift;
                if ((digit & 0x80) == 0) {
                    break;
                }
                shift += 7;
                if (shift == 28) {
                    throw new ProtocolViolation(MALFORMED, "remaining length longer than 4 bytes");
                }
            }
            long total = (long) (pos - start) + remaining;
            if (total > maxPacketSize) {
                throw new ProtocolViolation(ReasonCodes.PACKET_TOO_LARGE,
                        "packet of " + total + " bytes exceeds the maximum packet size " + maxPacketSize);
            }
            if (end - start < total) {
                return; // wait for the whole packet (bounded by maxPacketSize)
            }
            boolean firstConnect = protocolLevel == 0 && first >> 4 == 1;
            try {
                check(first >> 4, first & 0x0F, new Cursor(in, pos, pos + remaining));
            } catch (ProtocolViolation v) {
                throw firstConnect && v5() ? v.inMqtt5Connect() : v;
            }
            out.add(in.readRetainedSlice((int) total));
        } catch (ProtocolViolation v) {
            failed = true;
            in.skipBytes(in.readableBytes());
            out.add(new MqttMessage(null, null, null, DecoderResult.failure(v)));
        }
    }

    private boolean v5() {
        return protocolLevel == MQTT_5;
    }

    private void check(int type, int flags, Cursor c) {
        switch (type) {
            case 1 -> checkConnect(flags, c);
            case 3 -> checkPublish(flags, c);
            case 4, 5, 7 -> {
                requireFlags(type, flags, 0);
                checkAck(c);
            }
            case 6 -> {
                requireFlags(type, flags, 2);
                checkAck(c);
            }
            case 8 -> checkSubscribe(flags, c);
            case 10 -> checkUnsubscribe(flags, c);
            case 12 -> requireFlags(type, flags, 0);
            case 14, 15 -> {
                requireFlags(type, flags, 0);
                if (v5() && c.hasMore()) {
                    c.u8(); // reason code
                    if (c.hasMore()) {
                        checkProperties(c, type == 14 ? PropertyRules.DISCONNECT : PropertyRules.AUTH);
                    }
                }
            }
            default -> {
                // CONNACK, SUBACK, UNSUBACK, PINGRESP, type 0: Netty's decoder or MqttConnection refuses these.
            }
        }
    }

    private static void requireFlags(int type, int flags, int expected) {
        if (flags != expected) {
            throw new ProtocolViolation(MALFORMED, "reserved flags 0x" + Integer.toHexString(flags)
                    + " in fixed header of packet type " + type + " (must be 0x" + Integer.toHexString(expected) + ")");
        }
    }

    private void checkConnect(int flags, Cursor c) {
        if (protocolLevel != 0) {
            return; // a second CONNECT: MqttConnection answers it as a protocol error
        }
        requireFlags(1, flags, 0);
        int nameLength = c.u16();
        c.skip(nameLength);
        int level = c.u8();
        if (level != 3 && level != 4 && level != MQTT_5) {
            return; // Netty's decoder reports the unsupported version (CONNACK 0x01)
        }
        protocolLevel = level;
        int connectFlags = c.u8();
        c.u16(); // keep-alive
        if ((connectFlags & 0x01) != 0) {
            return; // reserved flag: Netty's decoder reports it
        }
        if (v5()) {
            checkProperties(c, PropertyRules.CONNECT);
        }
        c.string("client identifier");
        if ((connectFlags & 0x04) != 0) {
            if (v5()) {
                checkProperties(c, PropertyRules.WILL);
            }
            c.string("will topic");
            c.skip(c.u16()); // will payload
        }
        if ((connectFlags & 0x80) != 0) {
            c.string("user name");
        }
        if ((connectFlags & 0x40) != 0) {
            c.skip(c.u16()); // password
        }
    }

    private void checkPublish(int flags, Cursor c) {
        int qos = (flags >> 1) & 0x03;
        if (qos == 3) {
            throw new ProtocolViolation(MALFORMED, "PUBLISH with QoS 3");
        }
        if (qos == 0 && (flags & 0x08) != 0) {
            throw new ProtocolViolation(MALFORMED, "PUBLISH with QoS 0 and DUP set");
        }
        int topicStart = c.string("topic name");
        int topicEnd = c.position();
        // '+' and '#' never occur inside a multi-byte UTF-8 sequence, so the bytes can be searched.
        if (c.indexOf(topicStart, topicEnd, '+') >= 0 || c.indexOf(topicStart, topicEnd, '#') >= 0) {
            throw new ProtocolViolation(ReasonCodes.TOPIC_NAME_INVALID, "wildcard in PUBLISH topic '"
                    + c.text(topicStart, topicEnd) + "'");
        }
        if (qos > 0 && c.u16() == 0) {
            throw new ProtocolViolation(PROTOCOL, "packet identifier 0 in a QoS " + qos + " PUBLISH");
        }
        if (v5()) {
            checkProperties(c, PropertyRules.PUBLISH);
        }
    }

    private void checkAck(Cursor c) {
        c.u16();
        if (v5() && c.hasMore()) {
            c.u8();
            if (c.hasMore()) {
                checkProperties(c, PropertyRules.ACK);
            }
        }
    }

    private void checkSubscribe(int flags, Cursor c) {
        requireFlags(8, flags, 2);
        if (c.u16() == 0) {
            throw new ProtocolViolation(PROTOCOL, "packet identifier 0 in SUBSCRIBE");
        }
        if (v5()) {
            checkProperties(c, PropertyRules.SUBSCRIBE);
        }
        while (c.hasMore()) {
            c.string("topic filter");
            int options = c.u8();
            if ((options & 0x03) == 3) {
                throw new ProtocolViolation(MALFORMED, "subscription with QoS 3");
            }
            if ((options & (v5() ? 0xC0 : 0xFC)) != 0) {
                throw new ProtocolViolation(MALFORMED, "reserved bits set in subscription options 0x"
                        + Integer.toHexString(options));
            }
            if (v5() && ((options >> 4) & 0x03) == 3) {
                throw new ProtocolViolation(PROTOCOL, "retain handling 3");
            }
        }
    }

    private void checkUnsubscribe(int flags, Cursor c) {
        requireFlags(10, flags, 2);
        if (c.u16() == 0) {
            throw new ProtocolViolation(PROTOCOL, "packet identifier 0 in UNSUBSCRIBE");
        }
        if (v5()) {
            checkProperties(c, PropertyRules.UNSUBSCRIBE);
        }
        while (c.hasMore()) {
            c.string("topic filter");
        }
    }

    /** MQTT 5 properties: a length, then identifiers each allowed for the packet and (but User Property) given once. */
    private static void checkProperties(Cursor c, PropertyRules rules) {
        int length = c.varint();
        Cursor p = c.sub(length);
        long seen = 0;
        while (p.hasMore()) {
            int id = p.varint();
            PropertyRules.Kind kind = PropertyRules.kind(id);
            if (kind == null) {
                throw new ProtocolViolation(MALFORMED, "unknown property identifier 0x" + Integer.toHexString(id));
            }
            if (!rules.allows(id)) {
                throw new ProtocolViolation(MALFORMED, "property 0x" + Integer.toHexString(id) + " is not allowed in "
                        + rules.packet());
            }
            if (id != PropertyRules.USER_PROPERTY) {
                if ((seen & (1L << id)) != 0) {
                    throw new ProtocolViolation(PROTOCOL, "property 0x" + Integer.toHexString(id) + " given twice in "
                            + rules.packet());
                }
                seen |= 1L << id;
            }
            switch (kind) {
                case BYTE -> {
                    int value = p.u8();
                    if (PropertyRules.isBoolean(id) && value > 1) {
                        throw new ProtocolViolation(PROTOCOL, "property 0x" + Integer.toHexString(id) + " must be 0 or 1");
                    }
                }
                case TWO_BYTES -> p.u16();
                case FOUR_BYTES -> p.skip(4);
                case VARINT -> p.varint();
                case STRING -> p.string("property 0x" + Integer.toHexString(id));
                case BINARY -> p.skip(p.u16());
                case STRING_PAIR -> {
                    p.string("user property name");
                    p.string("user property value");
                }
            }
        }
        c.skip(length);
    }

    /** Bounds-checked reading inside one packet; running past its end is a malformed packet. */
    private static final class Cursor {
        private final ByteBuf buf;
        private int pos;
        private final int end;

        Cursor(ByteBuf buf, int pos, int end) {
            this.buf = buf;
            this.pos = pos;
            this.end = end;
        }

        boolean hasMore() {
            return pos < end;
        }

        private void need(int n) {
            if (n < 0 || end - pos < n) {
                throw new ProtocolViolation(MALFORMED, "packet ends early");
            }
        }

        int u8() {
            need(1);
            return buf.getUnsignedByte(pos++);
        }

        int u16() {
            need(2);
            int v = buf.getUnsignedShort(pos);
            pos += 2;
            return v;
        }

        void skip(int n) {
            need(n);
            pos += n;
        }

        int varint() {
            int value = 0;
            for (int shift = 0; shift < 28; shift += 7) {
                int digit = u8();
                value |= (digit & 0x7F) << shift;
                if ((digit & 0x80) == 0) {
                    return value;
                }
            }
            throw new ProtocolViolation(MALFORMED, "variable byte integer longer than 4 bytes");
        }

        /** Checks a length-prefixed UTF-8 string and returns the index of its first byte. */
        int string(String what) {
            int length = u16();
            need(length);
            String problem = Utf8Check.problem(buf, pos, length);
            if (problem != null) {
                throw new ProtocolViolation(MALFORMED, what + ": " + problem);
            }
            int start = pos;
            pos += length;
            return start;
        }

        int position() {
            return pos;
        }

        int indexOf(int from, int to, char ascii) {
            return buf.indexOf(from, to, (byte) ascii);
        }

        String text(int from, int to) {
            return buf.toString(from, to - from, java.nio.charset.StandardCharsets.UTF_8);
        }

        Cursor sub(int length) {
            need(length);
            return new Cursor(buf, pos, pos + length);
        }
    }
}
