package io.durablemq.engine;

import io.durablemq.engine.delivery.BodyRefs;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.BodyCache;
import io.durablemq.engine.metrics.EngineMetrics;
import io.durablemq.engine.metrics.StageTimers;
import io.durablemq.engine.queue.QueuePageReader;
import io.durablemq.engine.queue.SoleReferenceReader;
import io.durablemq.engine.queue.StoreQueueReader;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionIndex;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.Map;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The engine's one lock and the in-memory image it guards, shared by the engine's collaborators
 * ({@link SessionLifecycle}, {@link PublishRouting}, {@link SessionDelivery}, {@link ImageRebuild},
 * {@link OperationGuard}, {@link EngineSessionHandle}). Every field below the store is read and
 * written only under the partition lock of its session (or every partition, for a reset), and every change to the image appends its writes to the
 * committer's open batch in the same critical section (engine/README.md, "The commit path").
 *
 * <p>Fields are grouped by where they would live once the engine is partitioned (issue 12,
 * target 4): what one partition would own (its sessions and their counters, the queues whose
 * entries its batch holds) and what stays broker-wide (the store, the subscription index that
 * routing matches against, retained messages, body ids and the bodies' reference counts, which
 * several partitions' entries share). Today there is one partition and one lock.
 */
final class EngineState {
    final EngineConfig config;
    /**
     * The partitions: each session's state and counters under its partition's lock, which takes
     * the part the engine's one lock ({@code mutex}) played; one partition is that engine exactly.
     */
    final Partitions partitions;
    /** The engine's figures, read under the lock ({@code Engine.stats()}). */
    final StateStats stats = new StateStats(this);
    final EngineMetrics metrics;
    /** Where a QoS 1/2 publish's time goes (route, batch wait, completion here; decode and send in the broker). */
    final StageTimers stages;

    // ---------------------------------------------------------------- broker-wide

    /** Replaced only when the engine reopens the store after a failed write (under storeLock's write lock). */
    volatile Store store;
    final ReentrantReadWriteLock storeLock = new ReentrantReadWriteLock();
    /**
     * Replaced with the store (under every partition's lock). Appended to inside operation scopes;
     * its own lock guards its open batch, so its writer never waits for a partition. Volatile: read
     * without a partition lock by isCommitting.
     */
    volatile Committer committer;
    /** Written under every partition's lock, read under one (or none): volatile. */
    volatile boolean closed;
    /** True from a failed commit until the store is reopened and recovered; operations fail meanwhile. */
    volatile boolean resetting;
    volatile RecoveryReport recoveryReport;
    /**
     * Changed by one writer at a time (under {@link #indexWriter}, taken through
     * {@link #indexChangeStarts()}); read without a lock too, by a publish's walk
     * ({@link Targets#prematch}: one writer, concurrent readers). Replaced by a reset, hence volatile.
     */
    volatile SubscriptionIndex index = new SubscriptionIndex();
    /** The index's one writer at a time: subscribe, unsubscribe and discard (IndexWriter). */
    final IndexWriter indexWriter = new IndexWriter();
    /** Retained messages, with their own lock held by an operation until its append (RetainedMessages). */
    final RetainedMessages retained = new RetainedMessages();
    /** Message ids, never reused (message.MessageIds). */
    final io.durablemq.engine.message.MessageIds messageIds = new io.durablemq.engine.message.MessageIds();
    /** Bodies' reference counts, stored (delivery.BodyRefs): nothing per body in memory. */
    final BodyRefs refs = new BodyRefs(() -> store);
    final BodyCache bodies;
    /** Reads queue pages from the current store; called under the session's partition lock (see PagedQueue). */
    final QueuePageReader storePages = new StoreQueueReader(() -> store);
    /** Page reads for delivery, eviction and discard also mark the entries that are their body's only reference. */
    final QueuePageReader pageReader = new SoleReferenceReader(storePages, () -> store);

    // ---------------------------------------------------------------- per partition (one today)

    /** Every partition's sessions as one map (Partitions.sessions): hold each key's partition, or all to iterate. */
    final Map<String, EngineSession> sessions;

    EngineState(EngineConfig config, Store store, MeterRegistry meters) {
        this.config = config;
        this.partitions = new Partitions(config.partitions());
        this.sessions = partitions.sessions();
        this.store = store;
        this.bodies = new BodyCache(config.bodyCacheBytes());
        this.metrics = new EngineMetrics(meters, stats);
        this.stages = new StageTimers(meters);
    }

    boolean isClosed() {
        return closed;
    }

    /** Sets {@link #resetting}; true for the one caller that set it (operations of several partitions may fail at once). */
    synchronized boolean resettingStarts() {
        if (resetting) {
            return false;
        }
        resetting = true;
        return true;
    }

    /** The partition of a session. */
    Partition partitionOf(EngineSession s) {
        return partitions.of(s);
    }

    /**
     * Inside an operation, before it changes the subscription index: takes the index's writer lock
     * for the operation (until its append). An operation that may fire a will before it changes
     * the index (connect with a clean start, a disconnect that ends the session, several discards
     * in one operation) calls this first, since a will's routing takes the retained and count locks,
     * which come after the index writer in the lock order.
     */
    void indexChangeStarts() {
        indexWriter.changeStarts(committer);
    }

    /**
     * Inside an operation that may route several wills and discard several sessions (recovery's):
     * takes the index writer and retained locks up front, since one will's routing may take the
     * count lock, which comes after them in the lock order, before the next will needs them.
     */
    void severalWillsStart() {
        indexChangeStarts();
        retained.holdFor(committer);
    }

    /** Must hold the session's partition. The session record carries the queue's counters: changed with every queue change, written once per batch. */
    void persistSession(EngineSession s) {
        committer.putOncePerBatch(StoreColumn.SESSIONS, s.key, s.record().encode());
    }

    /** Must hold the session's partition. An entry left its queue (delivered, expired, evicted, discarded). */
    void unqueue(EngineSession s, QueueEntry e) {
        Partition p = partitions.of(s);
        p.queuedMessages--;
        p.queuedBytes -= e.size();
    }

    /**
     * Must hold the session's partition. Drops one reference to a body; the last one deletes it in the same batch.
     * {@code sole}: the entry knows it is the only reference (no count is read).
     */
    void releaseBody(long messageId, boolean sole) {
        if (refs.release(messageId, sole, committer)) {
            // SingleDelete: a body is put once, under an id never used before (message.MessageIds: ids are
            // not reused after a restart or a leader change); engine/README.md, "SingleDelete".
            committer.singleDelete(StoreColumn.MESSAGES, Keys.message(messageId));
            bodies.remove(messageId);
        }
    }
}
