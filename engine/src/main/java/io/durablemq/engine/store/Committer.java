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

        /** A completion threw: a bug in the caller, logged and counted; the commit itself stood. */
        default void completionThrew(Throwable error) {
        }
    }

    private static final class Batch {
        final WriteBatch writes = new WriteBatch();
        final List<Completion> completions = new ArrayList<>();
        final long epoch;
        int count;
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
    /** The batch the thread works on (null between batches); only the thread and its death handler touch it. */
    private volatile Batch current;
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
     * Wakes the committer when the open batch just stopped being empty: once per batch is
     * enough (it re-checks before waiting), and waking it on every append only makes it
     * fight the appending thread for the lock.
     */
    private void wakeIfFirst() {
        if (open.count + open.completions.size() == 1) {
            lock.notify();
        }
    }

    /** Deletes every key in [from, to). */
    public void deleteRange(StoreColumn column, byte[] from, byte[] to) {
        synchronized (lock) {
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
            if (closing || dead) {
                safeFail(completion, new StoreWriteException(closing ? "engine is closed"
                        : "not written: the committer stopped after an internal error; the engine resets", null));
                return;
            }
            open.completions.add(completion);
            wakeIfFirst();
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
            }
            StoreWriteException failure = poisoned
                    ? new StoreWriteException("not written: an earlier commit failed and the engine has not reset yet", null)
                    : null;
            VirtualMachineError fatal = null;
            if (failure == null && batch.count > 0) {
                long t0 = System.nanoTime();
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
                    try {
                        observer.committed(batch.count, batch.completions.size(), System.nanoTime() - t0);
                    } catch (Throwable e) {
                        log.error("commit observer threw", e);
                    }
                }
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
