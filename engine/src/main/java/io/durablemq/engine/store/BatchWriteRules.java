package io.durablemq.engine.store;

import org.rocksdb.RocksDBException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * How writes join the open batch, under the committer's lock: one write ({@link #apply}) or a
 * succeeded operation's writes, all or none ({@link #applyAll}), each with the batch's rules: a
 * plain write drops the key's value pending for the batch's end ({@link BatchEndPuts}), a delete
 * of a key put fresh in the batch writes nothing at all, a SingleDelete of a key the batch
 * rewrites is refused, and the counts the batch's end reads are kept
 * ({@link Committer.Appender#putsLessSingleDeletes}). The public methods of {@link Committer} say
 * what each kind of write promises.
 */
final class BatchWriteRules {
    /** The committer's logger: operators and log-capturing tests look for the commit path's lines there. */
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    private final Store store;
    /** Told when a failed append cannot be taken out of the batch: the batch must then fail. */
    private final CommitterState state;

    BatchWriteRules(Store store, CommitterState state) {
        this.store = store;
        this.state = state;
    }

    /**
     * Under the lock: all of {@code writes} join {@code batch}, in the order they were recorded,
     * or none (see {@link Committer#append(BatchOperation)}): a save point is held on the batch
     * for the length of this append only; if a write throws, the batch is rolled back to it and
     * the exception propagates.
     */
    void applyAll(CommitBatch batch, List<BatchOperation.Write> writes) {
        int countBefore = batch.count;
        int endPutsBefore = batch.endPuts.mark();
        int[] putsLessSingleDeletesBefore = batch.putsLessSingleDeletes.clone();
        try {
            batch.writes.setSavePoint();
        } catch (RuntimeException e) {
            throw new StoreWriteException("cannot start an operation's append: " + e, e);
        }
        try {
            for (BatchOperation.Write w : writes) {
                apply(batch, w.kind(), w.column(), w.key(), w.value());
            }
        } catch (Throwable e) {
            try {
                batch.writes.rollbackToSavePoint();
                batch.count = countBefore;
                batch.endPuts.rollBackTo(endPutsBefore);
                System.arraycopy(putsLessSingleDeletesBefore, 0, batch.putsLessSingleDeletes, 0, putsLessSingleDeletesBefore.length);
            } catch (Throwable rollbackFailed) {
                e.addSuppressed(rollbackFailed);
                log.error("could not take a failed append out of the batch; failing the batch", rollbackFailed);
                state.markFailed(batch.epoch, new StoreWriteException("a failed append could not be rolled back: " + rollbackFailed,
                        rollbackFailed));
            }
            throw e;
        }
        try {
            batch.writes.popSavePoint();
        } catch (RocksDBException e) {
            state.markFailed(batch.epoch, new StoreWriteException("cannot end an operation's append", e));
            throw new StoreWriteException("cannot end an operation's append", e);
        }
    }

    /** Under the lock: one write joins {@code b}, the open batch, with the batch's rules (see the class comment). */
    void apply(CommitBatch b, BatchOperation.Kind kind, StoreColumn column, byte[] key, byte[] value) {
        try {
            switch (kind) {
                case PUT -> {
                    b.endPuts.drop(column, key); // written after this put, it would undo it
                    b.writes.put(store.handle(column), key, value);
                    b.count++;
                    b.putsLessSingleDeletes[column.ordinal()]++;
                }
                case DELETE -> {
                    if (b.endPuts.drop(column, key)) { // written after this delete, it would bring the record back
                        return; // put fresh in this batch: nothing to delete in the store, and nothing is written
                    }
                    b.writes.delete(store.handle(column), key);
                    b.count++;
                }
                case SINGLE_DELETE -> {
                    BatchEndPuts.Found pending = b.endPuts.dropFresh(column, key);
                    if (pending == BatchEndPuts.Found.REWRITTEN) {
                        throw new IllegalStateException("a SingleDelete of a " + column + " key that this batch rewrites"
                                + " (putOncePerBatch): defined only for a key put once; use delete");
                    }
                    if (pending == BatchEndPuts.Found.FRESH) {
                        return; // put fresh in this batch: neither the put nor a tombstone is written
                    }
                    b.writes.singleDelete(store.handle(column), key);
                    b.count++;
                    b.putsLessSingleDeletes[column.ordinal()]--;
                }
                case DELETE_RANGE -> {
                    b.endPuts.dropRange(column, key, value);
                    b.writes.deleteRange(store.handle(column), key, value);
                    b.count++;
                }
                case PUT_ONCE_PER_BATCH -> b.endPuts.put(column, key, value, false);
                case PUT_NEW -> b.endPuts.put(column, key, value, true);
            }
        } catch (RocksDBException e) {
            throw new StoreWriteException("batch " + kind.name().toLowerCase(java.util.Locale.ROOT) + " failed", e);
        }
    }
}
