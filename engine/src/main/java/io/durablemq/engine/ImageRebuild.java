package io.durablemq.engine;

import io.durablemq.engine.check.BackgroundCheck;
import io.durablemq.engine.metrics.StageTimers;
import io.durablemq.engine.queue.QueueCountersUpgrade;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.BatchOperation;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreOpenException;
import io.durablemq.engine.store.StoreWriteException;
import io.durablemq.engine.topic.SubscriptionIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Builds the engine's in-memory image from the store: at open ({@link #recover}), and again
 * after a failed commit or a failed operation, when the image is dropped, every connection is
 * closed, the store reopened and recovery run ({@link #resetToDurableState}). Owns the committer
 * it starts on each (re)opened store and the observer that turns a failed write into a reset.
 */
final class ImageRebuild implements OperationGuard.ImageReset {
    /** Logged as the engine's: operators look for these lines there. */
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    private final EngineState st;
    private final SessionLifecycle sessions;
    private final WillLifecycle wills;
    /** The invariant check recovery defers: on a snapshot, in the background, reporting only. */
    private final BackgroundCheck backgroundCheck;
    private final ScheduledExecutorService sweeper;
    private final Committer.Observer commitObserver;
    /** Commit batches written and not yet completed (the pipelined committer; -Ddurablemq.commit.batchesInFlight). */
    private final int commitsInFlight;
    /** Where the committer makes batches durable: the local store, or a cluster's replicated log. */
    private final BatchLog batchLog;

    ImageRebuild(EngineState st, SessionLifecycle sessions, WillLifecycle wills, BackgroundCheck backgroundCheck,
                 ScheduledExecutorService sweeper, BatchLog batchLog) {
        this.st = st;
        this.sessions = sessions;
        this.wills = wills;
        this.backgroundCheck = backgroundCheck;
        this.sweeper = sweeper;
        this.commitsInFlight = st.config.commitBatchesInFlight();
        this.batchLog = batchLog;
        this.commitObserver = new Committer.Observer() {
            @Override
            public void committed(int writes, int completions, long nanos) {
                st.metrics.committed(writes, nanos);
            }

            @Override
            public void batchWaited(long nanos) {
                st.stages.record(StageTimers.Stage.BATCH_WAIT, nanos);
            }

            @Override
            public void commitFailed(StoreWriteException cause) {
                st.metrics.commitFailed();
                sweeperReset();
            }

            @Override
            public void completionThrew(Throwable error) {
                st.metrics.internalError("commit_completion");
            }

            @Override
            public void completionsRunBy(boolean onWriter) {
                st.metrics.completionsRunBy(onWriter);
            }
        };
    }

    /** A committer on the current store (at open, and on the store the reset reopened); called under every partition's lock by the reset. */
    void startCommitter() {
        // Its own lock, not the engine's: each operation appends in one critical section at its end
        // (store.BatchOperation), so the writer takes batches without waiting for the engine's lock,
        // and every write must be made inside an operation (engine/README.md, "Towards partitions", step 2).
        st.committer = new Committer(st.store, commitObserver, new Object(), st.config.commitFaults(), batchLog, commitsInFlight);
        st.committer.requireOperationScope();
        st.committer.lastWrites(batch -> {
            st.refs.append(batch); // the body count, once per batch
            st.messageIds.append(batch); // the message id ceiling, when ids above the last one were handed out
        });
    }

    /** Builds the image from the store: at open, and by the reset. */
    void recover() {
        try (PartitionLocks.Held held = st.partitions.lockAll()) {
            long t0 = System.nanoTime();
            // First pages read unmarked; Recovery marks them and the in-flight windows with one ordered read per session.
            Recovery recovery = new Recovery(st.store, st.index, st.storePages);
            Recovery.Result r = recovery.run(st.sessions, st.retained);
            wills.loadRecovered(recovery.wills);
            st.messageIds.restore(r.nextMessageId(), st.store);
            st.refs.restoreStoredBodies(r.storedBodies());
            for (int i = 0; i < st.partitions.count(); i++) {
                st.partitions.get(i).clearCounters();
            }
            for (EngineSession s : st.sessions.values()) {
                Partition p = st.partitionOf(s); // each recovered session placed by its client id's hash
                p.queuedMessages += s.queue.messages();
                p.queuedBytes += s.queue.bytes();
                p.inflightMessages += s.inflight.size();
            }
            // Sessions with expiry 0 lived only as long as their connection, which the restart ended.
            long now = System.currentTimeMillis();
            try (BatchOperation op = st.committer.operation()) { // a throw leaves no half-discarded session
            st.severalWillsStart(); // several discards in one operation: its narrow locks in order, up front
            for (EngineSession s : new ArrayList<>(st.sessions.values())) {
                if ((s.expirySeconds == 0 || s.isExpired(now)) && !wills.holds(s.clientId)) {
                    sessions.discard(s, "session_expired");
                }
            }
                op.succeeded();
            }
            if (wills.started()) {
                sessions.releaseRecoveredWills(); // a reset after a failed commit: the wills run on
            }
            long nanos = System.nanoTime() - t0;
            st.metrics.recovered(nanos);
            st.recoveryReport = new RecoveryReport(java.time.Duration.ofNanos(nanos), st.sessions.size(), st.index.size(),
                    st.partitions.queuedMessages(), st.partitions.inflightMessages(), r.storedBodies(), r.qos2Received(), st.retained.size(), r.recordsChecked());
            log.info("recovered {} in {} ms", st.recoveryReport, nanos / 1_000_000);
        }
    }

    /** A commit failed: everything after it was built on state that is not on disk. Rebuild from the store. */
    private void sweeperReset() {
        try {
            sweeper.execute(this::resetToDurableState);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            log.warn("a commit failed while the engine closes: no reset");
        }
    }

    /**
     * Returns the engine to what the store holds after a failed commit (disk full, I/O error).
     * Every connection is closed (its clients reconnect and resume from durable state), the
     * store is reopened, since RocksDB refuses writes after a failed WAL write until then,
     * and recovery runs again. While the store cannot be reopened, this retries every second
     * and every operation fails with {@link StoreWriteException}.
     */
    @Override
    public void resetToDurableState() {
        List<SessionListener> toClose = new ArrayList<>();
        Committer failed;
        try (PartitionLocks.Held held = st.partitions.lockAll()) {
            if (st.closed || (!st.resetting && !st.committer.isFailed())) {
                return;
            }
            if (!st.resetting) {
                log.warn("a commit failed: closing all connections and returning to the last durable state");
                toClose.addAll(dropImage());
            }
            failed = st.committer;
        }
        for (SessionListener l : toClose) {
            l.onSessionClosed(SessionListener.CloseReason.ENGINE_RESET);
        }
        failed.close(); // fails what is still queued on it: none of it was written
        backgroundCheck.cancel(); // it holds the store lock's read side
        st.storeLock.writeLock().lock();
        try {
            if (st.isClosed()) { // close() ran meanwhile: it closes the store; reopening it would leak it
                return;
            }
            st.store.close();
            st.store = Store.open(st.config.dataPath(), st.config.durability());
            QueueCountersUpgrade.upgradeIfNeeded(st.store);
        } catch (StoreOpenException | RuntimeException e) {
            log.error("cannot reopen the store yet ({}); retrying in 1 s", e.getMessage());
            sweeper.schedule(this::resetToDurableState, 1, TimeUnit.SECONDS);
            return;
        } finally {
            st.storeLock.writeLock().unlock();
        }
        try (PartitionLocks.Held held = st.partitions.lockAll()) {
            if (st.closed) { // close() closes the reopened store; recovering from it would read a closed RocksDB
                return;
            }
            startCommitter();
            try {
                recover();
                backgroundCheck.start(() -> st.store, st.storeLock);
                st.resetting = false;
                log.warn("engine is back at its last durable state; clients may reconnect");
            } catch (RuntimeException e) {
                log.error("recovery after a failed commit failed; retrying in 1 s", e);
                st.sessions.clear();
                st.index = new SubscriptionIndex();
                st.refs.clear();
                st.retained.clear();
                sweeper.schedule(this::resetToDurableState, 1, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * Must hold every partition. Forgets the in-memory image (it is rebuilt from the store) and makes every
     * operation fail fast until then; returns the listeners to tell {@code ENGINE_RESET}.
     */
    @Override
    public List<SessionListener> dropImage() {
        List<SessionListener> toClose = new ArrayList<>();
        st.resetting = true;
        for (EngineSession s : st.sessions.values()) {
            if (s.listener != null) {
                toClose.add(s.listener);
                s.listener = null;
            }
            s.discarded = true;
        }
        st.sessions.clear();
        st.retained.clear();
        wills.clear();
        st.index = new SubscriptionIndex();
        st.refs.clear();
        st.bodies.clear();
        for (int i = 0; i < st.partitions.count(); i++) {
            st.partitions.get(i).onlineSessions = 0;
            st.partitions.get(i).unwrittenMarks.clear();
        }
        return toClose;
    }
}
