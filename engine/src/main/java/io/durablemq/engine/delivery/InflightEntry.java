package io.durablemq.engine.delivery;

import java.nio.ByteBuffer;

/**
 * An outbound QoS 1/2 message sent (or about to be) under a packet id. {@code order} keeps
 * the send order for resends; in PUBREL_SENT the body is released ({@code messageId} 0).
 * Value layout: {@code i64 order | u8 state | i64 messageId | u8 qos | u8 retain |
 * i64 enqueuedAt | i32 size | u16 n | i32 subscriptionId * n}.
 *
 * <p>{@code soleReference} is not stored: the queue entry's knowledge that no other entry
 * references the body ({@link QueueEntry#soleReference()}), carried over when it is sent, or
 * recovery's, which marks an entry whose body has no count record in the store.
 */
public record InflightEntry(int packetId, long order, InflightState state, long messageId, int qos,
                            boolean retain, long enqueuedAtMillis, int size, int[] subscriptionIds,
                            boolean soleReference) {

    /** An entry not known to be its body's only reference (as every decoded one). */
    public InflightEntry(int packetId, long order, InflightState state, long messageId, int qos,
                         boolean retain, long enqueuedAtMillis, int size, int[] subscriptionIds) {
        this(packetId, order, state, messageId, qos, retain, enqueuedAtMillis, size, subscriptionIds, false);
    }

    public static InflightEntry sent(int packetId, long order, QueueEntry q) {
        return new InflightEntry(packetId, order, InflightState.PUBLISH_SENT, q.messageId(), q.qos(), q.retain(),
                q.enqueuedAtMillis(), q.size(), q.subscriptionIds(), q.soleReference());
    }

    /** The same entry, known to be its body's only reference (recovery found no count record for its body). */
    public InflightEntry asSoleReference() {
        return soleReference ? this : new InflightEntry(packetId, order, state, messageId, qos, retain, enqueuedAtMillis,
                size, subscriptionIds, true);
    }

    public InflightEntry released() {
        return new InflightEntry(packetId, order, InflightState.PUBREL_SENT, 0, qos, retain, enqueuedAtMillis, 0,
                new int[0], false);
    }

    public byte[] encodeValue() {
        ByteBuffer b = ByteBuffer.allocate(8 + 1 + 8 + 1 + 1 + 8 + 4 + 2 + 4 * subscriptionIds.length);
        b.putLong(order).put((byte) state.ordinal()).putLong(messageId).put((byte) qos)
                .put((byte) (retain ? 1 : 0)).putLong(enqueuedAtMillis).putInt(size)
                .putShort((short) subscriptionIds.length);
        for (int id : subscriptionIds) {
            b.putInt(id);
        }
        return b.array();
    }

    public static InflightEntry decode(int packetId, byte[] value) {
        ByteBuffer b = ByteBuffer.wrap(value);
        long order = b.getLong();
        InflightState state = InflightState.values()[b.get()];
        long messageId = b.getLong();
        int qos = b.get();
        boolean retain = b.get() != 0;
        long enqueuedAt = b.getLong();
        int size = b.getInt();
        int[] ids = new int[b.getShort() & 0xFFFF];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = b.getInt();
        }
        return new InflightEntry(packetId, order, state, messageId, qos, retain, enqueuedAt, size, ids);
    }
}
