package io.durablemq.broker.protocol;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.metrics.StageTimers.Stage;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.flush.FlushConsolidationHandler;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Hands what the engine's threads have for one connection to its event loop, several at a time:
 * the acknowledgements of its publishes (PUBACK, PUBREC, PUBCOMP, from the commit completion
 * thread) and the engine's callbacks (deliveries, PUBREL, session closed; {@link MqttConnection}).
 *
 * <p>Why not one {@code eventLoop().execute} and one {@code writeAndFlush} per packet, as before:
 * each was its own task, and each flush outside a read went through Netty's
 * {@link FlushConsolidationHandler}, which defers it to yet another task at the tail of the
 * loop's queue, behind every delivery and acknowledgement the commit completion thread queued
 * meanwhile for other connections (benchmarks/RESULTS.md, "Tail: where a PUBACK's time goes at
 * fixed rates"). Here the engine's thread appends to this connection's queue and schedules one
 * drain task only when none is pending; the drain runs every queued task (each writes, does not
 * flush, its packets) and then flushes once, at once, to the socket.
 *
 * <p>Order and durability are unchanged: tasks run in the order they were added (one first in,
 * first out queue per connection, as the loop's own task queue was), so acknowledgements leave
 * in the order the engine completed the publishes' futures (commit order, the order the
 * PUBLISHes arrived). Nothing is added before its future completed, which the engine does only
 * once the commit holding the publish is durable.
 */
final class LoopWrites {
    /**
     * Tasks one drain runs at most before it queues the next drain behind the loop's other work:
     * a subscriber fed faster than its loop drains must not keep the loop from reading.
     */
    static final int MAX_PER_DRAIN = 256;

    private final ConnectionScope scope;
    /** Tasks in the order they were added; each may write (need not flush) packets on the event loop. */
    private final Queue<Runnable> ready = new ConcurrentLinkedQueue<>();
    /**
     * A drain task is queued on the event loop and has not yet cleared this flag. The protocol that
     * leaves no task behind: {@link #add} appends first and queues a drain only if it sets the flag;
     * a drain clears the flag before it polls. So an {@code add} that finds the flag set knows of a
     * drain that has not yet polled and will poll its task, and one that sets it queues that drain.
     */
    private final AtomicBoolean drainQueued = new AtomicBoolean();
    private final Runnable drain = this::drain;
    /**
     * Hand-off times of the PUBLISHes the running drain wrote, recorded as {@code deliver} once its
     * flush is done. Allocated at the first delivery and doubled when a drain writes more (at most
     * {@link #MAX_PER_DRAIN}), so a connection that only publishes has none and recording
     * allocates nothing once it has grown. Event loop only.
     */
    private long[] writtenHandedAt;
    /** Their {@code OutboundPublish.builtAtNanos}, recorded as {@code deliver_total} beside them (0: none). */
    private long[] writtenBuiltAt;
    private int written;
    /** The PUBLISHes of {@link CoalescedPublish} tasks, written before any other task runs and before the flush. */
    final PublishCoalescer publishes;

    /**
     * A task that only appends a PUBLISH to {@link #publishes}: consecutive ones share buffers,
     * any other task first has them written, so the order on the wire is the order of the tasks.
     */
    interface CoalescedPublish extends Runnable {
    }

    /**
     * A PUBLISH the engine handed to the connection ({@code SessionListener.onPublish}) at
     * {@code handedAtNanos}: the start of the {@code deliver_hop} and {@code deliver} stages
     * (StageTimers). The one object per delivery the lambda it replaces was.
     */
    record EngineDelivery(OutboundDelivery outbound, OutboundPublish publish, long handedAtNanos)
            implements CoalescedPublish {
        @Override
        public void run() {
            outbound.sendPublish(publish);
        }
    }

    LoopWrites(ConnectionScope scope) {
        this.scope = scope;
        this.publishes = new PublishCoalescer(scope);
    }

    /** Any thread (an engine thread): queues a task for the event loop, after every task added before. */
    void add(Runnable task) {
        ready.add(task);
        if (drainQueued.compareAndSet(false, true)) {
            scope.onLoop.execute(drain); // a loop already gone drops it: there is no connection to acknowledge on
        }
    }

    /**
     * Event loop: runs the queued tasks in order (at most {@link #MAX_PER_DRAIN}), then flushes once.
     *
     * <p>Why no write can stay unflushed: every task that writes runs here and nowhere else, and
     * every drain that ran a task ends in a flush of the whole channel (what it wrote and anything
     * written before it), even when a task threw an {@link Error} (the finally block: the loop
     * would log the Error and go on, and without it the packets already written would wait for
     * some later flush). Every task added is run by a drain: see {@link #drainQueued}'s protocol
     * below. Writability does not matter: a flushed packet that the socket cannot take yet stays
     * in Netty's outbound buffer, marked flushed, and Netty writes it when the socket drains.
     */
    private void drain() {
        // Cleared before polling: a task added from here on either is polled below or
        // queues the next drain, so none is left behind.
        drainQueued.set(false);
        int ran = 0;
        try {
            Runnable r;
            while (ran < MAX_PER_DRAIN && (r = ready.poll()) != null) {
                ran++;
                try {
                    if (r instanceof EngineDelivery d) {
                        deliver(d);
                        continue;
                    }
                    if (!(r instanceof CoalescedPublish)) {
                        publishes.writePending(); // what the PUBLISHes before it appended goes first
                    }
                    r.run();
                } catch (RuntimeException e) {
                    // One task's failure must not strand the tasks behind it (the loop would have run them too).
                    ConnectionScope.LOG.warn("a task for client {} threw", scope.clientId, e);
                }
            }
        } finally {
            try {
                publishes.writePending(); // nothing stays pending past a drain
            } catch (RuntimeException e) {
                ConnectionScope.LOG.warn("writing PUBLISHes to client {} threw", scope.clientId, e);
            }
            if (ran > 0 && scope.channel.isActive()) {
                flushNow();
                recordDelivered();
            }
            written = 0;
            if (!ready.isEmpty() && drainQueued.compareAndSet(false, true)) {
                scope.onLoop.execute(drain); // the rest, in order, after what else waits on the loop
            }
        }
    }

    /** Event loop: runs one delivery's task, timing its hop to the loop and keeping its hand-off time for {@link #recordDelivered}. */
    private void deliver(EngineDelivery d) {
        boolean timed = d.publish().qos() > 0; // the stages are a QoS 1/2 message's
        if (timed) {
            scope.context.metrics().publishStage(Stage.DELIVER_HOP, System.nanoTime() - d.handedAtNanos());
        }
        if (!d.outbound().sendPublish(d.publish()) || !timed) {
            return; // not written (connection ending, expired, too large): no deliver figure
        }
        if (writtenHandedAt == null) {
            writtenHandedAt = new long[8];
            writtenBuiltAt = new long[8];
        } else if (written == writtenHandedAt.length) {
            int grown = Math.min(2 * written, MAX_PER_DRAIN);
            writtenHandedAt = java.util.Arrays.copyOf(writtenHandedAt, grown);
            writtenBuiltAt = java.util.Arrays.copyOf(writtenBuiltAt, grown);
        }
        writtenBuiltAt[written] = d.publish().builtAtNanos();
        writtenHandedAt[written++] = d.handedAtNanos();
    }

    /** After the drain's flush: the {@code deliver} and {@code deliver_total} stages of every PUBLISH it wrote. */
    private void recordDelivered() {
        if (written == 0) {
            return;
        }
        long flushed = System.nanoTime();
        for (int i = 0; i < written; i++) {
            scope.context.metrics().publishStage(Stage.DELIVER, flushed - writtenHandedAt[i]);
            if (writtenBuiltAt[i] != 0) {
                scope.context.metrics().publishStage(Stage.DELIVER_TOTAL, flushed - writtenBuiltAt[i]);
            }
        }
    }

    /**
     * Flushes past the flush consolidation handler (whose deferred flush would wait for the tail
     * of the loop's queue): the context's own flush goes to the handlers before it (TLS, WebSocket,
     * the socket). A flush it still holds pending runs later and finds nothing left to write.
     */
    private void flushNow() {
        ChannelHandlerContext consolidation = scope.channel.pipeline().context(FlushConsolidationHandler.class);
        if (consolidation != null) {
            consolidation.flush();
        } else {
            scope.channel.flush();
        }
    }
}
