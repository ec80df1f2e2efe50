package io.durablemq.engine.delivery;

import java.nio.ByteBuffer;

/**
 * A message waiting in a session's queue: a reference to the stored body plus what this
 * session's subscriptions made of it (QoS after downgrade, RETAIN flag, subscription ids).
 * Value layout: {@code i64 messageId | u8 qos | u8 retain | i64 expiresAt | i64 enqueuedAt |
 * i32 size | u16 n | i32 subscriptionId * n}.
 *
 * <p>{@code soleReference} is not stored: true when this entry is known to be the only one
 * referencing its body (routing had one target, or a page read or recovery found no count record), so its
 * release deletes the body without reading a count ({@link BodyRefs}). False means "not known".
 */
public record QueueEntry(long seq, long messageId, int qos, boolean retain, long expiresAtMillis,
                         long enqueuedAtMillis, int size, int[] subscriptionIds, boolean soleReference) {

    /** An entry not known to be its body's only reference. */
    public QueueEntry(long seq, long messageId, int qos, boolean retain, long expiresAtMillis,
                      long enqueuedAtMillis, int size, int[] subscriptionIds) {
        this(seq, messageId, qos, retain, expiresAtMillis, enqueuedAtMillis, size, subscriptionIds, false);
    }

    /** The same entry, known to be its body's only reference. */
    public QueueEntry asSoleReference() {
        return soleReference ? this : new QueueEntry(seq, messageId, qos, retain, expiresAtMillis, enqueuedAtMillis,
                size, subscriptionIds, true);
    }

    public boolean isExpired(long nowMillis) {
        return expiresAtMillis != 0 && nowMillis >= expiresAtMillis;
    }

    public byte[] encodeValue() {
        ByteBuffer b = ByteBuffer.allocate(8 + 1 + 1 + 8 + 8 + 4 + 2 + 4 * subscriptionIds.length);
        b.putLong(messageId).put((byte) qos).put((byte) (retain ? 1 : 0)).putLong(expiresAtMillis)
                .putLong(enqueuedAtMillis).putInt(size).putShort((short) subscriptionIds.length);
        for (int id : subscriptionIds) {
            b.putInt(id);
        }
        return b.array();
    }

    public static QueueEntry decode(long seq, byte[] value) {
        ByteBuffer b = ByteBuffer.wrap(value);
        long messageId = b.getLong();
        int qos = b.get();
        boolean retain = b.get() != 0;
        long expiresAt = b.getLong();
        long enqueuedAt = b.getLong();
        int size = b.getInt();
        int[] ids = new int[b.getShort() & 0xFFFF];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = b.getInt();
        }
        return new QueueEntry(seq, messageId, qos, retain, expiresAt, enqueuedAt, size, ids);
    }
}
