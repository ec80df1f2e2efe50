package io.durablemq.engine.session;

import java.nio.ByteBuffer;

/**
 * The stored part of a session. {@code disconnectedAtMillis} is 0 while a connection holds
 * it (after a crash, recovery counts from the restart). Layout: {@code u8 version |
 * i64 expirySeconds | i64 disconnectedAt}.
 */
public record SessionRecord(long expirySeconds, long disconnectedAtMillis) {
    private static final int VERSION = 1;

    public byte[] encode() {
        return ByteBuffer.allocate(17).put((byte) VERSION).putLong(expirySeconds).putLong(disconnectedAtMillis).array();
    }

    public static SessionRecord decode(byte[] value) {
        ByteBuffer b = ByteBuffer.wrap(value);
        int v = b.get();
        if (v != VERSION) {
            throw new IllegalStateException("unknown session record version " + v);
        }
        return new SessionRecord(b.getLong(), b.getLong());
    }
}
