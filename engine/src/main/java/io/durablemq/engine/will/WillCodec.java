package io.durablemq.engine.will;

import io.durablemq.engine.message.MessageCodec;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Binary form of a {@link StoredWill} in the {@code wills} column family:
 * {@code u8 version | i64 delaySeconds | i64 messageExpirySeconds | i64 endedAt |
 * i32 usernameLength (-1 = none) | utf8 username | the message (MessageCodec)}.
 * The message reuses the messages column family's codec, so the will's MQTT 5 properties
 * are stored exactly as a queued message's are.
 */
public final class WillCodec {
    private static final int VERSION = 1;

    private WillCodec() {
    }

    public static byte[] encode(StoredWill w) {
        byte[] user = w.username() == null ? null : w.username().getBytes(StandardCharsets.UTF_8);
        byte[] message = MessageCodec.encode(w.message());
        ByteBuffer b = ByteBuffer.allocate(1 + 8 + 8 + 8 + 4 + (user == null ? 0 : user.length) + message.length);
        b.put((byte) VERSION).putLong(w.delaySeconds()).putLong(w.messageExpirySeconds()).putLong(w.endedAtMillis());
        b.putInt(user == null ? -1 : user.length);
        if (user != null) {
            b.put(user);
        }
        return b.put(message).array();
    }

    public static StoredWill decode(byte[] value) {
        try {
            ByteBuffer b = ByteBuffer.wrap(value);
            int v = b.get();
            if (v != VERSION) {
                throw new IllegalStateException("unknown will record version " + v);
            }
            long delay = b.getLong();
            long expiry = b.getLong();
            long endedAt = b.getLong();
            int userLength = b.getInt();
            if (userLength < -1 || userLength > b.remaining()) {
                throw new IllegalStateException("will record username length " + userLength + " exceeds the record");
            }
            String user = null;
            if (userLength >= 0) {
                byte[] u = new byte[userLength];
                b.get(u);
                user = new String(u, StandardCharsets.UTF_8);
            }
            byte[] message = Arrays.copyOfRange(value, b.position(), value.length);
            return new StoredWill(MessageCodec.decode(message), expiry, delay, user, endedAt);
        } catch (BufferUnderflowException e) {
            throw new IllegalStateException("will record cut short", e);
        }
    }
}
