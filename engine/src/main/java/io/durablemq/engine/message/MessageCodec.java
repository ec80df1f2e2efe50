package io.durablemq.engine.message;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Binary form of a {@link Message} in the messages and retained column families.
 * {@code u8 codecVersion | u8 qos | u8 flags | i64 expiresAt | str topic | bytes payload |
 * u8 propertyBits | [i8 pfi] [str contentType] [str responseTopic] [bytes correlation] |
 * i32 userPropertyCount | (str name, str value)*}; str and bytes are i32-length-prefixed.
 */
public final class MessageCodec {
    private static final int VERSION = 1;
    private static final int FLAG_RETAIN = 1;
    private static final int P_PFI = 1, P_CONTENT_TYPE = 2, P_RESPONSE_TOPIC = 4, P_CORRELATION = 8;

    private MessageCodec() {
    }

    public static byte[] encode(Message m) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(m.payload().length + m.topic().length() + 32);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(VERSION);
            out.writeByte(m.qos());
            out.writeByte(m.retain() ? FLAG_RETAIN : 0);
            out.writeLong(m.expiresAtMillis());
            writeString(out, m.topic());
            writeBytes(out, m.payload());
            MessageProperties p = m.properties();
            int bits = (p.payloadFormatIndicator() != null ? P_PFI : 0)
                    | (p.contentType() != null ? P_CONTENT_TYPE : 0)
                    | (p.responseTopic() != null ? P_RESPONSE_TOPIC : 0)
                    | (p.correlationData() != null ? P_CORRELATION : 0);
            out.writeByte(bits);
            if (p.payloadFormatIndicator() != null) {
                out.writeByte(p.payloadFormatIndicator());
            }
            if (p.contentType() != null) {
                writeString(out, p.contentType());
            }
            if (p.responseTopic() != null) {
                writeString(out, p.responseTopic());
            }
            if (p.correlationData() != null) {
                writeBytes(out, p.correlationData());
            }
            out.writeInt(p.userProperties().size());
            for (UserProperty up : p.userProperties()) {
                writeString(out, up.name());
                writeString(out, up.value());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    public static Message decode(byte[] data) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
            int version = in.readUnsignedByte();
            if (version != VERSION) {
                throw new IllegalStateException("unknown message codec version " + version);
            }
            int qos = in.readUnsignedByte();
            int flags = in.readUnsignedByte();
            long expiresAt = in.readLong();
            String topic = readString(in);
            byte[] payload = readBytes(in);
            int bits = in.readUnsignedByte();
            Integer pfi = (bits & P_PFI) != 0 ? (int) in.readByte() : null;
            String contentType = (bits & P_CONTENT_TYPE) != 0 ? readString(in) : null;
            String responseTopic = (bits & P_RESPONSE_TOPIC) != 0 ? readString(in) : null;
            byte[] correlation = (bits & P_CORRELATION) != 0 ? readBytes(in) : null;
            int n = in.readInt();
            List<UserProperty> ups = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                ups.add(new UserProperty(readString(in), readString(in)));
            }
            MessageProperties props = (bits == 0 && n == 0) ? MessageProperties.NONE
                    : new MessageProperties(pfi, contentType, responseTopic, correlation, ups);
            return new Message(topic, payload, qos, (flags & FLAG_RETAIN) != 0, props, expiresAt);
        } catch (IOException e) {
            throw new IllegalStateException("corrupt message record: " + e, e);
        }
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        writeBytes(out, s.getBytes(StandardCharsets.UTF_8));
    }

    private static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
        out.writeInt(b.length);
        out.write(b);
    }

    private static String readString(DataInputStream in) throws IOException {
        return new String(readBytes(in), StandardCharsets.UTF_8);
    }

    private static byte[] readBytes(DataInputStream in) throws IOException {
        int len = in.readInt();
        if (len < 0 || len > in.available()) {
            throw new IOException("field length " + len + " exceeds record");
        }
        return in.readNBytes(len);
    }
}
