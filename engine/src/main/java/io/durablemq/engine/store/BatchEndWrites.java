package io.durablemq.engine.store;

import org.rocksdb.RocksDBException;

/**
 * The writes a batch gets as the writer takes it, under the owner's lock (so no operation is
 * half-appended): first its pending once-per-batch and fresh values ({@link BatchEndPuts}), then
 * whatever the owner's {@link Committer.LastWrites} hook appends (a figure that sums up the whole
 * batch). A batch that is failed instead of written gets none.
 */
final class BatchEndWrites {
    private final Store store;
    /** Appends each batch's last writes; guarded by the owner's lock. */
    private Committer.LastWrites lastWrites;

    BatchEndWrites(Store store) {
        this.store = store;
    }

    /** Under the lock: sets the hook (see {@link Committer#lastWrites}). */
    void hook(Committer.LastWrites hook) {
        lastWrites = hook;
    }

    /**
     * Under the lock, as {@code batch} is taken (it is no longer the open one): appends its end
     * puts, then (if it holds any write) the hook's writes. Returns what threw, or null.
     */
    Throwable appendTo(CommitBatch batch) {
        Throwable error = appendEndPuts(batch);
        if (error == null && batch.count > 0) {
            error = appendLastWrites(batch);
        }
        return error;
    }

    /** The batch's pending once-per-batch values join its writes. */
    private Throwable appendEndPuts(CommitBatch batch) {
        try {
            Committer.Appender appender = into(batch);
            batch.endPuts.writeEach(appender::put);
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    private Throwable appendLastWrites(CommitBatch batch) {
        if (lastWrites == null) {
            return null;
        }
        try {
            lastWrites.append(into(batch));
            return null;
        } catch (Throwable e) {
            return e;
        }
    }

    /** Puts into {@code batch}'s writes, counted like any other write. */
    private Committer.Appender into(CommitBatch batch) {
        return new Committer.Appender() {
            @Override
            public void put(StoreColumn column, byte[] key, byte[] value) {
                try {
                    batch.writes.put(store.handle(column), key, value);
                } catch (RocksDBException e) {
                    throw new StoreWriteException("batch put failed", e);
                }
                batch.count++;
            }

            @Override
            public int putsLessSingleDeletes(StoreColumn column) {
                return batch.putsLessSingleDeletes[column.ordinal()];
            }
        };
    }
}
