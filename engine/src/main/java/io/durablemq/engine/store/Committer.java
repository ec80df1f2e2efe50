package io.durablemq.engine.store;

import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Group commit. Callers append writes and completions to the open batch (cheap, in memory);
 * one thread takes the whole open batch, writes it with a single RocksDB write (one fsync in
 * fsync mode) and then runs its completions in the order they were appended. While it waits
 * on the disk the next batch fills up, so the fsync cost is shared by everything that arrived
 * meanwhile.
 *
 * <p>Writes of one logical operation must be appended while holding the lock passed in
 * (the owner's own lock), so they always land in the same batch.
 *
 * <p>A failed write (any Throwable, not only a RocksDBException) poisons its epoch: every batch
 * built on top of it (whose writes assumed it) fails too, until the owner calls
 * {@link #reset()} after re-reading the store, or replaces this committer. Its outcome is
 * unknown (see {@link StoreWriteException}). A completion that throws is logged and counted and
 * never stops the thread. Should the thread still die (it rethrows a {@link VirtualMachineError}
 * after failing its batch, since the JVM may be unable to go on), its uncaught-exception handler
 * fails everything pending, marks the committer failed and tells the observer, so no caller ever
 * waits forever and the owner resets.
 */
public final class Committer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    /** Told once what was appended before it is durable, or that it never will be. */
    public interface Completion {
        void durable();

        void failed(Throwable cause);
    }

    /** Measurements and failure notices; called on the committer thread. */
    public interface Observer {
        void committed(int writes, int completions, long nanos);

        void commitFailed(StoreWriteException cause);

        /** A batch is about to be written, {@code nanos} after its first append (its oldest write's wait). */
        default void batchWaited(long nanos) {
        }

        /** A completion threw: a bug in the caller, logged and counted; the commit itself stood. */
        default void completionThrew(Throwable error) {
        }
    }

    /**
     * Appends a batch's last writes just before it is written: a figure that sums up the whole
     * batch (the number of stored bodies) is written once per batch instead of once per change.
     * Called on the committer thread, under the owner's lock (so no operation is half-appended),
     * for every batch about to be written; never for a batch that is failed instead.
     */
    public interface LastWrites {
        void append(Appender batch);
    }

    /** What {@link LastWrites} may append to the batch being taken. */
    public interface Appender {
        void put(StoreColumn column, byte[] key, byte[] value);
    }

    private static final class Batch {
        final WriteBatch writes = new WriteBatch();
        final List<Completion> completions = new ArrayList<>();
        final long epoch;
        int count;
        /** System.nanoTime of the first append; one figure per batch, so appends allocate nothing more. */
        long firstAppendNanos;
        /** Index of the next completion to run; read by the death handler to fail only the rest. */
        int nextCompletion;

        Batch(long epoch) {
            this.epoch = epoch;
        }

        boolean isEmpty() {
            return count == 0 && completions.isEmpty();
        }
    }

    private final Store store;
    private final Observer observer;
    private final CommitFaults faults;
    /** Makes a batch durable: the local RocksDB write, or a replicated log (see {@link BatchLog}). */
    private final BatchLog batchLog;
    /**
     * The owner's lock: every caller appends all writes of one operation while holding it,
     * and the batch is swapped only under it, so a batch boundary never falls inside an
     * operation (its writes are atomic together).
     */
    private final Object lock;
    private final Thread thread;
    private Batch open;
    private long epoch;
    private long failedEpoch = -1;
    private boolean closing;
    /** The thread died: nothing more is committed; appended completions fail at once. */
    private boolean dead;
    /**
     * The owner's image went wrong (an operation failed half way) and it resets: what is open is
     * still committed, but nothing more may be appended, since it would be built on that image.
     */
    private boolean sealed;
    /** The batch the thread works on (null between batches); only the thread and its death handler touch it. */
    private volatile Batch current;
    /** System.nanoTime when the current batch's write ended; read by its completions, on this thread. */
    private long writeEndedNanos;
    /** Appends each batch's last writes ({@link #lastWrites}); guarded by the lock. */
    private LastWrites lastWrites;
    /** The epoch whose failure the observer was told of, so a write failure and the death it causes reset once. */
    private long reportedEpoch = -1;

    public Committer(Store store, Observer observer, Object lock) {
        this(store, observer, lock, CommitFaults.NONE);
    }

    public Committer(Store store, Observer observer, Object lock, CommitFaults faults) {
        this(store, observer, lock, faults, BatchLog.LOCAL);
    }

    public Committer(Store store, Observer observer, Object lock, CommitFaults faults, BatchLog batchLog) {
        this.batchLog = batchLog == null ? BatchLog.LOCAL : batchLog;
        this.store = store;
        this.lock = lock;
        this.observer = observer;
        this.faults = faults == null ? CommitFaults.NONE : faults;
        this.open = new Batch(0);
        this.thread = new Thread(this::run, "durablemq-committer");
        this.thread.setDaemon(true);
        this.thread.setUncaughtExceptionHandler((t, e) -> died(e));
        this.thread.start();
    }

    public void put(StoreColumn column, byte[] key, byte[] value) {
        synchronized (lock) {
            refuseIfSealed();
            try {
                open.writes.put(store.handle(column), key, value);
            } catch (RocksDBException e) {
                throw new StoreWriteException("batch put failed", e);
            }
            open.count++;
            wakeIfFirst();
        }
    }

    public void delete(StoreColumn column, byte[] key) {
        synchronized (lock) {
            refuseIfSealed();
            try {
                open.writes.delete(store.handle(column), key);
            } catch (RocksDBException e) {
                throw new StoreWriteException("batch delete failed", e);
            }
            open.count++;
            wakeIfFirst();
        }
    }

    /**
     * Deletes a key that was written exactly once since it was last deleted (or created), with
     * RocksDB's SingleDelete: the tombstone and the put cancel each other in the first flush or
     * compaction that sees both, instead of the tombstone living on to the bottom level. Wrong
     * (undefined in RocksDB: the older value may come back) for a key that was put twice, so only
     * for record kinds written once: queue entries, bodies, QoS 2 receive records (engine/README.md).
     */
    public void singleDelete(StoreColumn column, byte[] key) {
        synchronized (lock) {
            refuseIfSealed();
            try {
                open.writes.singleDelete(store.handle(column), key);
            } catch (RocksDBException e) {
                throw new StoreWriteException("batch single delete failed", e);
            }
            open.count++;
            wakeIfFirst();
        }
    }

    /** Sets the hook that appends each batch's last writes before it is written (see {@link LastWrites}). */
    public void lastWrites(LastWrites hook) {
        synchronized (lock) {
            lastWrites = hook;
        }
    }

    /** Under the lock: the hook's writes go into {@code batch}, which is no longer the open one. */
    private Throwable appendLastWrites(Batch batch) {
        if (lastWrites == null) {
            return null;
        }
        try {
            lastWrites.append((column, key, value) -> {
                try {
                    batch.writes.put(store.handle(column), key, value);
                } catch (RocksDBException e) {
                    throw new StoreWriteException("batch put failed", e);
                }
                batch.count++;
            });
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    /**
     * Wakes the committer when the open batch just stopped being empty: once per batch is
     * enough (it re-checks before waiting), and waking it on every append only makes it
     * fight the appending thread for the lock.
     */
    private void wakeIfFirst() {
        if (open.count + open.completions.size() == 1) {
            open.firstAppendNanos = System.nanoTime();
            lock.notify();
        }
    }

    /** Deletes every key in [from, to). */
    public void deleteRange(StoreColumn column, byte[] from, byte[] to) {
        synchronized (lock) {
            refuseIfSealed();
            try {
                open.writes.deleteRange(store.handle(column), from, to);
            } catch (RocksDBException e) {
                throw new StoreWriteException("batch range delete failed", e);
            }
            open.count++;
            wakeIfFirst();
        }
    }

    /** Runs {@code completion} once everything appended so far is durable (or has failed). */
    public void onDurable(Completion completion) {
        synchronized (lock) {
            if (closing || dead || sealed) {
                safeFail(completion, new StoreWriteException(closing ? "engine is closed"
                        : sealed ? "not written: an operation failed and the engine resets to its last durable state"
                        : "not written: the committer stopped after an internal error; the engine resets", null));
                return;
            }
            open.completions.add(completion);
            wakeIfFirst();
        }
    }

    private void refuseIfSealed() {
        if (sealed) {
            throw new StoreWriteException("not written: an operation failed and the engine resets to its last durable"
                    + " state; nothing built on its image may be committed", null);
        }
    }

    /**
     * Seals this committer: what is open is committed as usual (the operations in it succeeded),
     * but every later append is refused, because the owner's in-memory image is no longer what
     * the store will hold. The owner then replaces this committer after rebuilding its image.
     */
    public void seal() {
        synchronized (lock) {
            sealed = true;
        }
    }

    /**
     * Opens an operation scope on the open batch: the writes and completions appended from now
     * on stay in the batch only if the scope ends with {@link Operation#succeeded()}; closing it
     * without that takes them out again (a RocksDB save point on the batch, plus the count and
     * the completion list cut back). So an error in the middle of an operation never leaves half
     * of its writes to be committed. The caller holds the lock from here to the scope's end: the
     * batch cannot be swapped under it.
     */
    public Operation operation() {
        synchronized (lock) {
            open.writes.setSavePoint();
            return new Operation(open, open.count, open.completions.size());
        }
    }

    /** One operation's part of the open batch; see {@link #operation()}. */
    public final class Operation implements AutoCloseable {
        private final Batch batch;
        private final int countBefore;
        private final int completionsBefore;
        private boolean ended;

        private Operation(Batch batch, int countBefore, int completionsBefore) {
            this.batch = batch;
            this.countBefore = countBefore;
            this.completionsBefore = completionsBefore;
        }

        /** Keeps the operation's writes and completions in the batch. */
        public void succeeded() {
            synchronized (lock) {
                if (ended) {
                    return;
                }
                checkSameBatch();
                try {
                    batch.writes.popSavePoint();
                } catch (RocksDBException e) {
                    throw new StoreWriteException("cannot end an operation scope", e);
                }
                ended = true;
            }
        }

        /**
         * Takes the operation's writes and completions out of the batch unless it succeeded. If
         * even that fails, the whole batch is failed like a failed write (its completions fail,
         * the owner resets): half an operation is never committed.
         */
        @Override
        public void close() {
            synchronized (lock) {
                if (ended) {
                    return;
                }
                ended = true;
                try {
                    checkSameBatch();
                    batch.writes.rollbackToSavePoint();
                    batch.count = countBefore;
                    batch.completions.subList(completionsBefore, batch.completions.size()).clear();
                } catch (Throwable e) {
                    log.error("could not take a failed operation's writes out of the batch; failing the batch", e);
                    markFailed(batch.epoch, new StoreWriteException("a failed operation could not be rolled back: " + e, e));
                }
            }
        }

        private void checkSameBatch() {
            if (batch != open) {
                throw new IllegalStateException("an operation scope outlived its batch: the lock was released inside it");
            }
        }
    }

    /**
     * Forgets a failure after the owner rebuilt its state from the store: the open batch
     * (built on the failed state) is dropped and its completions fail.
     */
    public void reset() {
        Batch dropped;
        synchronized (lock) {
            epoch++;
            failedEpoch = -1;
            dropped = open;
            open = new Batch(epoch);
        }
        StoreWriteException cause = new StoreWriteException("discarded: the engine reset to its last durable state", null);
        for (Completion c : dropped.completions) {
            safeFail(c, cause);
        }
        dropped.writes.close();
    }

    /**
     * System.nanoTime when the batch whose completions are running finished its write: for a
     * completion to time itself. Only meaningful on the committer thread, inside durable().
     */
    public long writeEndedNanos() {
        return writeEndedNanos;
    }

    /** True while this committer cannot commit: a write failed (until reset) or its thread died. */
    public boolean isFailed() {
        synchronized (lock) {
            return dead || failedEpoch == epoch;
        }
    }

    private void run() {
        while (true) {
            Batch batch;
            boolean poisoned;
            Throwable hookError;
            InterruptedException interrupted = null;
            synchronized (lock) {
                while (open.isEmpty() && !closing && interrupted == null) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        interrupted = e;
                    }
                }
            }
            if (interrupted != null) {
                // Nobody should interrupt it; if someone does, it stops like a dead thread, never silently.
                Thread.currentThread().interrupt();
                died(interrupted);
                return;
            }
            synchronized (lock) {
                if (open.isEmpty() && closing) {
                    return;
                }
                batch = open;
                open = new Batch(epoch);
                poisoned = batch.epoch == failedEpoch || batch.epoch != epoch;
                current = batch;
                hookError = poisoned || batch.count == 0 ? null : appendLastWrites(batch);
            }
            StoreWriteException failure = poisoned
                    ? new StoreWriteException("not written: an earlier commit failed and the engine has not reset yet", null)
                    : null;
            VirtualMachineError fatal = null;
            if (hookError != null) {
                // Without its last writes the batch would leave the store inconsistent: never written.
                failure = new StoreWriteException("not written: appending the batch's last writes failed: " + hookError, hookError);
                log.error("appending a batch's last writes failed; nothing in this batch is acknowledged", hookError);
                markFailed(batch.epoch, failure);
                if (hookError instanceof VirtualMachineError vme) {
                    fatal = vme;
                }
            }
            if (failure == null && batch.count > 0) {
                long t0 = System.nanoTime();
                try {
                    observer.batchWaited(t0 - batch.firstAppendNanos);
                } catch (Throwable e) {
                    log.error("commit observer threw", e);
                }
                try {
                    faults.beforeWrite(batch.count);
                    batchLog.write(store, batch.writes);
                    faults.afterWrite(batch.count);
                } catch (Throwable e) {
                    // Whatever threw, the write may or may not have reached the WAL: unknown outcome.
                    failure = new StoreWriteException("commit of " + batch.count + " writes failed (outcome unknown: "
                            + "the engine resets to what the store holds): " + e, e);
                    log.error("store write failed; nothing in this batch is acknowledged", e);
                    markFailed(batch.epoch, failure);
                    if (e instanceof VirtualMachineError vme) {
                        fatal = vme;
                    }
                }
                if (failure == null) {
                    writeEndedNanos = System.nanoTime();
                    try {
                        observer.committed(batch.count, batch.completions.size(), writeEndedNanos - t0);
                    } catch (Throwable e) {
                        log.error("commit observer threw", e);
                    }
                }
            }
            if (batch.count == 0) {
                writeEndedNanos = System.nanoTime(); // nothing to write: its completions start from here
            }
            batch.writes.close();
            runCompletions(batch, failure);
            current = null;
            if (fatal != null) {
                throw fatal; // the batch already failed; the death handler fails the rest and the owner resets
            }
        }
    }

    private void runCompletions(Batch batch, StoreWriteException failure) {
        while (batch.nextCompletion < batch.completions.size()) {
            Completion c = batch.completions.get(batch.nextCompletion++);
            if (failure == null) {
                try {
                    c.durable();
                } catch (Throwable e) {
                    completionThrew(e);
                }
            } else {
                safeFail(c, failure);
            }
        }
    }

    /** Poisons {@code failed} and tells the observer once per epoch (outside the lock: it may reset). */
    private void markFailed(long failed, StoreWriteException cause) {
        boolean report;
        synchronized (lock) {
            failedEpoch = failed;
            report = reportedEpoch != failed;
            reportedEpoch = failed;
        }
        if (report) {
            try {
                observer.commitFailed(cause);
            } catch (Throwable e) {
                log.error("commit failure observer threw", e);
            }
        }
    }

    /**
     * The uncaught-exception handler: the thread is gone, so nothing pending would ever
     * complete. Fails the rest of the batch it worked on and everything appended since, refuses
     * new completions, and has the owner reset (which replaces this committer).
     */
    private void died(Throwable error) {
        try {
            log.error("the committer thread died; pending commits fail and the engine resets", error);
            Batch inProgress = current;
            Batch leftover;
            long failed;
            synchronized (lock) {
                dead = true;
                failed = epoch;
                leftover = open;
                open = new Batch(epoch);
            }
            StoreWriteException cause = new StoreWriteException("not committed: the committer thread died: " + error, error);
            markFailed(failed, cause);
            if (inProgress != null) {
                runCompletions(inProgress, cause);
                inProgress.writes.close();
            }
            runCompletions(leftover, cause);
            leftover.writes.close();
        } catch (Throwable e) {
            log.error("failing the commits of a dead committer threw", e);
        }
    }

    private void completionThrew(Throwable e) {
        log.error("commit completion threw", e);
        try {
            observer.completionThrew(e);
        } catch (Throwable ignored) {
            // counting must not stop the committer either
        }
    }

    private void safeFail(Completion c, Throwable cause) {
        try {
            c.failed(cause);
        } catch (Throwable e) {
            completionThrew(e);
        }
    }

    /** Commits what is open, then stops the thread. */
    @Override
    public void close() {
        synchronized (lock) {
            closing = true;
            lock.notify();
        }
        try {
            thread.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!thread.isAlive()) {
            // A dead thread (or one that stopped on an interrupt) left these behind: fail them, never leave them waiting.
            Batch leftover;
            synchronized (lock) {
                leftover = open;
                open = new Batch(epoch);
            }
            runCompletions(leftover, new StoreWriteException("not written: the committer stopped", null));
            leftover.writes.close();
        }
    }
}
