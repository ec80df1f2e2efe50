package io.durablemq.broker.protocol;

import io.durablemq.engine.message.MessageProperties;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;

import java.util.List;

/**
 * Packs the PUBLISHes that one {@link LoopWrites} drain sends to a connection one after another
 * into shared buffers, written to the channel as one message each, instead of one buffer, one
 * pipeline pass, one promise and one outbound-buffer entry per PUBLISH.
 *
 * <p>Why: in a backlog drain the event loop writes one PUBLISH for every PUBACK it reads, and
 * each separate write went through the whole outbound pipeline and Netty's buffer pool
 * (benchmarks/RESULTS.md, "Backlog drain: CPU per message (s22)"). The bytes on the wire and
 * their order are unchanged: {@link LoopWrites} writes what is pending before it runs any task that
 * is not a coalesced PUBLISH and before its flush, so nothing written by another task or outside
 * the drain can come between two packets out of order, and nothing stays pending after a drain.
 * Event loop only.
 */
final class PublishCoalescer {
    /** Bytes of one shared buffer; a PUBLISH larger than a quarter of it gets a buffer of its own. */
    static final int CHUNK = 16 * 1024;

    /** Its channel is set once the connection is registered, before any PUBLISH. */
    private final ConnectionScope scope;
    /** PUBLISHes appended since the last {@link #writePending}; null when none. */
    private ByteBuf pending;

    PublishCoalescer(ConnectionScope scope) {
        this.scope = scope;
    }

    /** Appends one PUBLISH (see {@link PublishEncoder}); it is written by the next {@link #writePending}. */
    void add(String topic, int qos, boolean dup, boolean retain, int packetId, byte[] payload, MessageProperties mp,
             long remainingExpirySeconds, List<Integer> subscriptionIds, boolean mqtt5) {
        Channel channel = scope.channel;
        int size = PublishEncoder.size(topic, qos, payload, mp, remainingExpirySeconds, subscriptionIds, mqtt5);
        if (pending != null && pending.writableBytes() < size) {
            writePending();
        }
        if (pending == null) {
            if (size > CHUNK / 4) {
                channel.write(PublishEncoder.encode(channel.alloc(), topic, qos, dup, retain, packetId, payload, mp,
                        remainingExpirySeconds, subscriptionIds, mqtt5));
                return;
            }
            pending = channel.alloc().buffer(CHUNK, CHUNK);
        }
        int mark = pending.writerIndex();
        try {
            PublishEncoder.write(pending, size, topic, qos, dup, retain, packetId, payload, mp, remainingExpirySeconds,
                    subscriptionIds, mqtt5);
        } catch (RuntimeException e) {
            pending.writerIndex(mark); // the packets before it stay whole
            throw e;
        }
    }

    /** Writes (does not flush) the PUBLISHes appended so far, as one message. */
    void writePending() {
        ByteBuf buf = pending;
        if (buf == null) {
            return;
        }
        pending = null;
        if (buf.isReadable()) {
            if (buf.readableBytes() < CHUNK / 2) {
                // Mostly empty: what a subscriber that does not read holds in Netty's outbound buffer is at
                // most twice its packets, not a 16 KiB chunk per drain (a pooled buffer shrinks by a copy).
                buf.capacity(buf.writerIndex());
            }
            scope.channel.write(buf);
        } else {
            buf.release();
        }
    }
}
