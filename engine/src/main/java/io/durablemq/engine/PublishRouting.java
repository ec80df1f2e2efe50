package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.guard.Admission;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.metrics.TimedCompletion;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Routing of one published message: the QoS 2 duplicate check, admission and queue limits, the
 * body stored once, one queue entry per target session (or a QoS 0 send), retained messages, and
 * the answer once durable (engine/README.md, "Delivery"). Called under the engine's lock, inside
 * an operation ({@link OperationGuard#guarded}); hands the routed sessions to
 * {@link SessionDelivery#pump}.
 */
final class PublishRouting {
    /** Logged as the engine's: operators look for these lines there. */
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    private final EngineState st;
    private final OperationGuard guard;
    private final SessionDelivery delivery;
    /** The broker-wide queue budget and heap guard: whether new QoS 1/2 publishes are taken at all. */
    private final Admission admission;

    PublishRouting(EngineState st, OperationGuard guard, SessionDelivery delivery, Admission admission) {
        this.st = st;
        this.guard = guard;
        this.delivery = delivery;
        this.admission = admission;
    }

    /**
     * Must hold the publisher's partition and every target's, inside an operation. Routes one message (a client's publish, with its
     * publisher's session, or the broker's with {@code publisher} null) and completes
     * {@code future} with its {@link PublishResult}. {@code prepared}: what the caller did before
     * it took the lock ({@link PreparedPublish#NONE} for nothing). {@code visible}: the sessions of
     * the partitions it holds ({@link Partitions#visible}), the only ones it may route to.
     */
    <T> void route(EngineSession publisher, String originClientId, int packetId, Message message,
                   PreparedPublish prepared, CompletableFuture<T> future, List<Runnable> immediate,
                   Map<String, EngineSession> visible) {
        @SuppressWarnings("unchecked")
        CompletableFuture<PublishResult> result = (CompletableFuture<PublishResult>) future;
        long now = System.currentTimeMillis();
        st.metrics.received(message.qos());
        if (message.qos() == 2 && publisher != null && publisher.qos2Received.contains(packetId)) {
            st.metrics.duplicateSuppressed();
            guard.complete(result, new PublishResult(PublishResult.Status.DUPLICATE, 0));
            return;
        }
        if (message.isExpired(now)) {
            st.metrics.dropped("expired");
            completeAfter(result, new PublishResult(PublishResult.Status.ACCEPTED, 0), message.qos());
            return;
        }
        Map<EngineSession, Targets.Target> targets = Targets.match(prepared.targets(), st.index, visible,
                message.topic(), originClientId);
        int size = message.sizeEstimate();
        if (message.qos() > 0) {
            Admission.Refusal refusal = admission.check(st.partitions.queuedBytes(), (long) size * targets.size());
            if (refusal != null) {
                completeAfter(result, new PublishResult(refusal == Admission.Refusal.HEAP
                        ? PublishResult.Status.HEAP_PRESSURE : PublishResult.Status.BUDGET_EXCEEDED, 0), message.qos());
                return;
            }
        }
        if (message.qos() > 0 && st.config.overflowPolicy() == OverflowPolicy.REJECT) {
            for (Targets.Target t : targets.values()) {
                if (Math.min(message.qos(), t.maxQos) > 0 && wouldOverflow(t.session, size)) {
                    st.metrics.dropped("quota_exceeded");
                    log.warn("refused a publish to '{}': the queue of session '{}' is full ({} messages, {} bytes)",
                            message.topic(), t.session.clientId, t.session.queue.messages(), t.session.queue.bytes());
                    completeAfter(result, new PublishResult(PublishResult.Status.QUOTA_EXCEEDED, 0), message.qos());
                    return;
                }
            }
        }
        if (message.retain()) {
            // Before any count change: the retained lock comes before the BodyRefs lock in the lock order.
            st.retained.retain(message, message.payload().length == 0 ? null : prepared.encoded(message), st.committer);
        }
        if (targets.isEmpty()) {
            st.metrics.dropped("no_subscribers");
        }
        long messageId = 0;
        List<Runnable> sends = new ArrayList<>();
        List<EngineSession> routed = new ArrayList<>(targets.size());
        // With at most one QoS 1/2 target the body has at most one entry: its release reads no count.
        boolean sole = storedTargets(targets, message.qos()) == 1;
        for (Targets.Target t : targets.values()) {
            EngineSession s = t.session;
            int qos = Math.min(message.qos(), t.maxQos);
            boolean retainFlag = t.retainAsPublished && message.retain();
            if (qos == 0) {
                if (s.canSendNow()) {
                    SessionListener l = s.listener;
                    OutboundPublish p = new OutboundPublish(0, 0, false, retainFlag, message, t.subscriptionIds);
                    s.outbox.add(() -> l.onPublish(p)); // one call at a time per session
                    immediate.add(s.outbox::drain);
                    st.metrics.delivered(0);
                    st.metrics.acknowledged(0, -1);
                } else {
                    st.metrics.dropped("qos0_offline");
                }
                continue;
            }
            if (wouldOverflow(s, size)) {
                if (st.config.overflowPolicy() == OverflowPolicy.DROP_OLDEST && !s.queue.isEmpty()) {
                    while (!s.queue.isEmpty() && wouldOverflow(s, size)) {
                        QueueEntry evicted = s.queue.evictOldest(st.pageReader); // from the head; reads only if it is empty
                        st.unqueue(s, evicted);
                        // SingleDelete: a queue key is put once (fresh seq); engine/README.md, "SingleDelete".
                        st.committer.singleDelete(StoreColumn.QUEUES, Keys.queueEntry(s.key, evicted.seq()));
                        st.releaseBody(evicted.messageId(), evicted.soleReference());
                        st.metrics.dropped("queue_full_evicted");
                    }
                    delivery.readAhead.request(s, s.clientId, s.key, s.queue); // refill the head off the lock before it runs dry
                    log.warn("session '{}' queue full: evicted its oldest messages", s.clientId);
                } else {
                    st.metrics.dropped("queue_full");
                    log.warn("session '{}' queue full: dropped a message to '{}'", s.clientId, message.topic());
                    continue;
                }
            }
            if (messageId == 0) {
                messageId = storeBody(message, prepared.encoded(message));
            }
            enqueue(s, new QueueEntry(s.queue.takeSeq(), messageId, qos, retainFlag, message.expiresAtMillis(), now,
                    size, t.ids(), sole));
            routed.add(s);
            st.config.commitFaults().routedTo(routed.size());
        }
        // Pumped only once every queue holds its reference to the body: an acknowledgement
        // handled between two enqueues would drop the count to 0 and delete the body under the
        // sessions still to come. Listener calls run outside the lock, so none can today; this
        // keeps the count right whatever the callbacks' timing.
        if (messageId != 0) {
            st.refs.routed(messageId, routed.size(), st.committer); // one count record for a fan-out, none for one entry
        }
        for (EngineSession s : routed) {
            delivery.pump(s, sends, immediate);
        }
        if (message.qos() == 2 && publisher != null) {
            publisher.qos2Received.add(packetId);
            st.committer.put(StoreColumn.QOS2_RECEIVED, Keys.packet(publisher.key, packetId),
                    ByteBuffer.allocate(8).putLong(now).array());
        }
        registerUnwritten(routed);
        delivery.runAfterDurable(sends);
        PublishResult accepted = new PublishResult(PublishResult.Status.ACCEPTED, targets.size(),
                DeepestBacklog.of(routed, publisher));
        if (message.qos() == 0) {
            result.complete(accepted);
        } else {
            st.committer.onDurable(new TimedCompletion<>(result, accepted, st.stages, st.committer)); // records the completion stage
        }
    }

    /** The unwritten marks of the routed sessions' partitions (each held by this publish), one completion each. */
    private void registerUnwritten(List<EngineSession> routed) {
        long done = 0;
        for (EngineSession s : routed) {
            Partition p = st.partitionOf(s);
            if ((done & PartitionLocks.bit(p.index)) == 0) {
                done |= PartitionLocks.bit(p.index);
                p.unwrittenMarks.registerOn(st.committer);
            }
        }
    }

    /** QoS 0 answers need no durability; QoS 1/2 answers wait for the commit. */
    private <T> void completeAfter(CompletableFuture<T> future, T value, int qos) {
        if (qos == 0) {
            future.complete(value);
        } else {
            guard.complete(future, value);
        }
    }

    /** Targets that get a queue entry unless their queue is full: those with QoS 1 or 2 after the subscription's maximum. */
    private static int storedTargets(Map<EngineSession, Targets.Target> targets, int qos) {
        if (qos == 0) {
            return 0;
        }
        int n = 0;
        for (Targets.Target t : targets.values()) {
            if (t.maxQos > 0) {
                n++;
            }
        }
        return n;
    }

    private boolean wouldOverflow(EngineSession s, int size) {
        return s.queue.messages() + 1 > st.config.maxQueuedMessagesPerSession()
                || s.queue.bytes() + size > st.config.maxQueuedBytesPerSession();
    }

    /** {@code encoded}: {@code MessageCodec.encode(message)}, done by the caller (before the lock where it could). */
    private long storeBody(Message message, byte[] encoded) {
        long id = st.messageIds.next();
        st.committer.put(StoreColumn.MESSAGES, Keys.message(id), encoded);
        st.bodies.put(id, message);
        st.refs.bodyStored();
        // Until the batch is written the store cannot serve this body: an early send must find it here.
        st.bodies.pin(id, message);
        st.committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                st.bodies.unpin(id);
            }

            @Override
            public void failed(Throwable cause) {
                st.bodies.unpin(id); // the reset reloads whatever the store holds
            }
        });
        return id;
    }

    /** Appends to the session's queue; its put and the session record's new counters go in the same batch. */
    private void enqueue(EngineSession s, QueueEntry e) {
        if (s.queue.add(e)) {
            st.partitionOf(s).unwrittenMarks.mark(s.queue, e.seq());
        }
        Partition p = st.partitionOf(s);
        p.queuedMessages++;
        p.queuedBytes += e.size();
        st.committer.putNew(StoreColumn.QUEUES, Keys.queueEntry(s.key, e.seq()), e.encodeValue()); // a fresh seq: a pump in the same batch writes neither put nor delete
        st.persistSession(s);
    }

    /** Must hold the session's partition. Retained messages go through the queue like any other, flagged RETAIN. */
    void queueRetained(EngineSession s, String filter, SubscriptionOptions o, long now) {
        for (Message m : st.retained.matching(filter, now, st.committer)) { // the retained lock, held until the append
            int size = m.sizeEstimate();
            if (wouldOverflow(s, size)) {
                st.metrics.dropped("queue_full");
                continue;
            }
            long id = storeBody(m, MessageCodec.encode(m));
            int[] ids = o.subscriptionId() > 0 ? new int[]{o.subscriptionId()} : new int[0];
            enqueue(s, new QueueEntry(s.queue.takeSeq(), id, Math.min(m.qos(), o.maxQos()), true,
                    m.expiresAtMillis(), now, size, ids, true)); // its own body: the only reference
            st.refs.routed(id, 1, st.committer);
        }
    }

    /**
     * Routes a will under every partition's lock (the operation that fires it takes them all: its
     * targets may be anywhere); its sends wait for its batch (never under the lock, and never before it is durable).
     */
    void routeWill(String originClientId, Message message, CompletableFuture<PublishResult> result) {
        List<Runnable> sends = new ArrayList<>();
        route(null, originClientId, 0, message, PreparedPublish.NONE, result, sends, st.sessions);
        delivery.runAfterDurable(sends);
    }
}
