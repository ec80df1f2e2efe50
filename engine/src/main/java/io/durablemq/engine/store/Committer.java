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
 * <p>A failed write poisons its epoch: every batch built on top of it (whose writes assumed
 * it) fails too, until the owner calls {@link #reset()} after re-reading the store.
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
    }

    private static final class Batch {
        final WriteBatch writes = new WriteBatch();
        final List<Completion> completions = new ArrayList<>();
        final long epoch;
        int count;

        Batch(long epoch) {
            this.epoch = epoch;
        }

        boolean isEmpty() {
            return count == 0 && completions.isEmpty();
        }
    }

    private final Store store;
    private final Observer observer;
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

    public Committer(Store store, Observer observer, Object lock) {
        this.store = store;
        this.lock = lock;
        this.observer = observer;
        this.open = new Batch(0);
        this.thread = new Thread(this::run, "durablemq-committer");
        this.thread.setDaemon(true);
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
            if (closing) {
                completion.failed(new StoreWriteException("engine is closed", null));
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

    public boolean isFailed() {
        synchronized (lock) {
            return failedEpoch == epoch;
        }
    }

    private void run() {
        while (true) {
            Batch batch;
            boolean poisoned;
            synchronized (lock) {
                while (open.isEmpty() && !closing) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                if (open.isEmpty() && closing) {
                    return;
                }
                batch = open;
                open = new Batch(epoch);
                poisoned = batch.epoch == failedEpoch || batch.epoch != epoch;
            }
            StoreWriteException failure = poisoned
                    ? new StoreWriteException("not written: an earlier commit failed and the engine has not reset yet", null)
                    : null;
            if (failure == null && batch.count > 0) {
                long t0 = System.nanoTime();
                try {
                    store.write(batch.writes);
                    observer.committed(batch.count, batch.completions.size(), System.nanoTime() - t0);
                } catch (RocksDBException e) {
                    failure = new StoreWriteException("commit of " + batch.count + " writes failed: " + e.getMessage(), e);
                    synchronized (lock) {
                        failedEpoch = batch.epoch;
                    }
                    log.error("store write failed; nothing in this batch is acknowledged: {}", e.getMessage());
                    observer.commitFailed(failure);
                }
            }
            batch.writes.close();
            for (Completion c : batch.completions) {
                if (failure == null) {
                    try {
                        c.durable();
                    } catch (RuntimeException e) {
                        log.error("commit completion threw", e);
                    }
                } else {
                    safeFail(c, failure);
                }
            }
        }
    }

    private static void safeFail(Completion c, Throwable cause) {
        try {
            c.failed(cause);
        } catch (RuntimeException e) {
            log.error("commit failure completion threw", e);
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
    }
}
