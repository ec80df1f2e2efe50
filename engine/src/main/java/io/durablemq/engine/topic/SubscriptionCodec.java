package io.durablemq.engine.topic;

import java.nio.ByteBuffer;

/** Value of a subscription record: {@code u8 maxQos | u8 flags | u8 retainHandling | i32 subscriptionId}. */
public final class SubscriptionCodec {
    private static final int NO_LOCAL = 1, RETAIN_AS_PUBLISHED = 2;

    private SubscriptionCodec() {
    }

    public static byte[] encode(SubscriptionOptions o) {
        int flags = (o.noLocal() ? NO_LOCAL : 0) | (o.retainAsPublished() ? RETAIN_AS_PUBLISHED : 0);
        return ByteBuffer.allocate(7).put((byte) o.maxQos()).put((byte) flags).put((byte) o.retainHandling())
                .putInt(o.subscriptionId()).array();
    }

    public static SubscriptionOptions decode(byte[] value) {
        ByteBuffer b = ByteBuffer.wrap(value);
        int qos = b.get();
        int flags = b.get();
        int rh = b.get();
        return new SubscriptionOptions(qos, (flags & NO_LOCAL) != 0, (flags & RETAIN_AS_PUBLISHED) != 0, rh, b.getInt());
    }
}
