package io.durablemq.engine.session;

import io.durablemq.engine.queue.QueueCounters;

import java.nio.ByteBuffer;

/**
 * The stored part of a session. {@code disconnectedAtMillis} is 0 while a connection holds
 * it (after a crash, recovery counts from the restart). Layouts: version 1 (format-1 stores)
 * {@code u8 1 | i64 expirySeconds | i64 disconnectedAt}; version 2 adds the queue's counters,
 * rewritten in the same batch as every change of the queue:
 * {@code u8 2 | i64 expirySeconds | i64 disconnectedAt | i64 queuedMessages | i64 queuedBytes | i64 nextSeq}.
 *
 * @param queue the queue's counters, or null for a version-1 record (not stored: counted from the entries)
 */
public record SessionRecord(long expirySeconds, long disconnectedAtMillis, QueueCounters queue) {
    private static final int V1 = 1;
    private static final int V2 = 2;

    /** A version-1 record, without counters (tests that build format-1 stores, and old stores). */
    public SessionRecord(long expirySeconds, long disconnectedAtMillis) {
        this(expirySeconds, disconnectedAtMillis, null);
    }

    public SessionRecord withQueue(QueueCounters counters) {
        return new SessionRecord(expirySeconds, disconnectedAtMillis, counters);
    }

    public byte[] encode() {
        if (queue == null) {
            return ByteBuffer.allocate(17).put((byte) V1).putLong(expirySeconds).putLong(disconnectedAtMillis).array();
        }
        return ByteBuffer.allocate(41).put((byte) V2).putLong(expirySeconds).putLong(disconnectedAtMillis)
                .putLong(queue.messages()).putLong(queue.bytes()).putLong(queue.nextSeq()).array();
    }

    public static SessionRecord decode(byte[] value) {
        ByteBuffer b = ByteBuffer.wrap(value);
        int v = b.get();
        if (v == V1 && value.length == 17) {
            return new SessionRecord(b.getLong(), b.getLong(), null);
        }
        if (v == V2 && value.length == 41) {
            return new SessionRecord(b.getLong(), b.getLong(), new QueueCounters(b.getLong(), b.getLong(), b.getLong()));
        }
        throw new IllegalStateException("unknown session record version " + v + " (" + value.length + " bytes)");
    }
}
