package io.durablemq.engine.store;

import org.rocksdb.RocksDBException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One operation's part of the {@link Committer}'s open batch ({@link Committer#operation()}): a
 * RocksDB save point on the batch plus its write count, completion list and pending end puts at
 * the start. The writes and completions appended inside stay in the batch only if the scope ends
 * with {@link #succeeded()}; {@link #close()} without that takes them out again, so an error in
 * the middle of an operation never leaves half of its writes to be committed. The caller holds
 * the lock from the scope's start to its end: the batch cannot be swapped under it.
 */
public final class BatchOperation implements AutoCloseable {
    /** The committer's logger: operators look for a failed rollback's line there. */
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    private final Committer committer;
    /** The committer's lock (the owner's): the scope's ends run under it, like every append. */
    private final Object lock;
    private final CommitBatch batch;
    private final int countBefore;
    private final int completionsBefore;
    private final int endPutsBefore;
    private boolean ended;

    BatchOperation(Committer committer, Object lock, CommitBatch batch, int countBefore, int completionsBefore,
                   int endPutsBefore) {
        this.committer = committer;
        this.lock = lock;
        this.batch = batch;
        this.countBefore = countBefore;
        this.completionsBefore = completionsBefore;
        this.endPutsBefore = endPutsBefore;
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
                batch.endPuts.rollBackTo(endPutsBefore);
            } catch (Throwable e) {
                log.error("could not take a failed operation's writes out of the batch; failing the batch", e);
                committer.markFailed(batch.epoch, new StoreWriteException("a failed operation could not be rolled back: " + e, e));
            }
        }
    }

    private void checkSameBatch() {
        if (!committer.isOpen(batch)) {
            throw new IllegalStateException("an operation scope outlived its batch: the lock was released inside it");
        }
    }
}
