package io.durablemq.engine.store;

import org.rocksdb.RocksDBException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit, pipelined. Callers append writes and completions to the open batch (cheap, in
 * memory). The writer thread takes the whole open batch, writes it through the {@link BatchLog}
 * with a single RocksDB write (one fsync in fsync mode) or one replicated log entry, and hands it
 * to the {@link CommitPipeline}, whose own thread runs the batch's completions in the order they
 * were appended, batch after batch in commit order, once the batch is durable. While one batch
 * waits on the disk the next fills up, so the fsync cost is shared by everything that arrived
 * meanwhile; while its completions run, the next write is already under way; and with a log
 * that takes several batches before the first is durable (Raft), up to {@code batchesInFlight}
 * are outstanding. One batch in flight is the committer before the pipeline.
 *
 * <p>This class is the open batch the owner appends to (puts, deletes, values written at the
 * batch's end, completions, operation scopes: {@link BatchOperation}) and the committer's state
 * (epochs, sealed, closing, dead), swapped and checked under the owner's lock. The thread that
 * takes and writes the batches is a {@link CommitWriter}; what a batch gets as it is taken is
 * {@link BatchEndWrites}; the completions run in the {@link CommitPipeline}.
 *
 * <p>Writes of one logical operation must be appended while holding the lock passed in
 * (the owner's own lock), so they always land in the same batch.
 *
 * <p>A failed write (any Throwable, not only a RocksDBException) poisons its epoch: every batch
 * built on top of it (whose writes assumed it), in flight or taken later, fails too, until the
 * owner calls {@link #reset()} after re-reading the store, or replaces this committer. Its
 * outcome is unknown (see {@link StoreWriteException}). A completion that throws is logged and
 * counted and never stops its thread. Should a thread still die (the writer rethrows a {@link
 * VirtualMachineError} after failing its batch, since the JVM may be unable to go on), its
 * uncaught-exception handler fails everything pending, marks the committer failed and tells the
 * observer, so no caller ever waits forever and the owner resets.
 */
public final class Committer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Committer.class);
    /** Batches written (or submitted) and not yet completed, when the owner names no other figure. */
    public static final int DEFAULT_BATCHES_IN_FLIGHT = 4;

    /** Told once what was appended before it is durable, or that it never will be. */
    public interface Completion {
        void durable();

        void failed(Throwable cause);
    }

    /** Measurements and failure notices; called on the committer's threads. */
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
    /** The thread that takes the open batch, writes it and hands it to the pipeline. */
    private final CommitWriter writer;
    private final CommitPipeline pipeline;
    /** What a batch gets as it is taken: its end puts and the owner's {@link LastWrites}; guarded by the lock. */
    private final BatchEndWrites endWrites;
    private CommitBatch open;
    private long epoch;
    private long failedEpoch = -1;
    private boolean closing;
    /** A thread died: nothing more is committed; appended completions fail at once. */
    private boolean dead;
    /**
     * The owner's image went wrong (an operation failed half way) and it resets: what is open is
     * still committed, but nothing more may be appended, since it would be built on that image.
     */
    private boolean sealed;
    /** The epoch whose failure the observer was told of, so a write failure and the death it causes reset once. */
    private long reportedEpoch = -1;

    /** A committer on the local store with the default number of batches in flight (tests). */
    public Committer(Store store, Observer observer, Object lock, CommitFaults faults) {
        this(store, observer, lock, faults, BatchLog.LOCAL, DEFAULT_BATCHES_IN_FLIGHT);
    }

    /**
     * @param batchesInFlight how many batches may be written (or submitted to {@code batchLog}) and
     *                        not yet completed; 1 writes the next batch only after the last one's
     *                        completions ran (see {@link CommitPipelineDepth})
     */
    public Committer(Store store, Observer observer, Object lock, CommitFaults faults, BatchLog batchLog,
                     int batchesInFlight) {
        this.batchLog = batchLog == null ? BatchLog.LOCAL : batchLog;
        this.store = store;
        this.lock = lock;
        this.observer = observer;
        this.faults = faults == null ? CommitFaults.NONE : faults;
        this.open = new CommitBatch(0);
        this.endWrites = new BatchEndWrites(store);
        BatchWriter batchWriter = new BatchWriter(store, this.batchLog, this.faults, observer, this::poison);
        this.pipeline = new CommitPipeline(batchesInFlight, new PipelineOwner());
        this.writer = new CommitWriter(this, batchWriter, pipeline);
        this.writer.start();
    }

    public void put(StoreColumn column, byte[] key, byte[] value) {
        synchronized (lock) {
            refuseIfSealed();
            open.endPuts.drop(column, key); // written after this put, it would undo it
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
            if (open.endPuts.drop(column, key)) { // written after this delete, it would bring the record back
                return; // put fresh in this batch: nothing to delete in the store, and nothing is written
            }
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
     * Deletes a key that was put exactly once since it last had no value, with RocksDB's
     * SingleDelete: the first flush or compaction that sees the tombstone and that one put drops
     * both, instead of carrying the tombstone down to the bottom level (where a Delete's tombstone
     * is dropped only). For a key put twice since, RocksDB's result is undefined: the older put
     * may come back. So only for the two record kinds whose keys are never put twice (engine/README.md,
     * "SingleDelete"): queue entries (a fresh sequence number per entry, {@link #putNew}) and
     * message bodies (an id never used before, {@code message.MessageIds}). Never for records
     * rewritten in place (in-flight records, sessions, counts): those use {@link #delete}.
     *
     * <p>In the open batch: a fresh value pending for the key ({@link #putNew}) is dropped and
     * nothing at all is written (the store holds nothing under the key, so a SingleDelete would
     * have no put of its own to meet, and would reach whatever older put a store might hold); a
     * once-per-batch value pending for it ({@link #putOncePerBatch}) means the key is rewritten,
     * and the call is refused before anything changed. A put appended earlier in this batch by
     * {@link #put} is the key's one put: the SingleDelete is written after it. Inside an
     * {@link BatchOperation} that is rolled back it is taken out again like every other write (the
     * batch's save point, and the journal of pending values for a dropped fresh value).
     *
     * @throws IllegalStateException if a once-per-batch value is pending for the key
     */
    public void singleDelete(StoreColumn column, byte[] key) {
        synchronized (lock) {
            refuseIfSealed();
            BatchEndPuts.Found pending = open.endPuts.dropFresh(column, key);
            if (pending == BatchEndPuts.Found.REWRITTEN) {
                throw new IllegalStateException("a SingleDelete of a " + column + " key that this batch rewrites"
                        + " (putOncePerBatch): defined only for a key put once; use delete");
            }
            if (pending == BatchEndPuts.Found.FRESH) {
                return; // put fresh in this batch: neither the put nor a tombstone is written
            }
            try {
                open.writes.singleDelete(store.handle(column), key);
            } catch (RocksDBException e) {
                throw new StoreWriteException("batch single delete failed", e);
            }
            open.count++;
            wakeIfFirst();
        }
    }

    /**
     * Puts {@code key}'s value once per batch: only the last value put in the open batch is
     * written, when the committer takes the batch (before the {@link LastWrites} hook). For a
     * record rewritten with every change of what it sums up (a session record carrying its queue's
     * counters), so that the batch ends with the same record at one write instead of one per
     * change. A later plain {@link #put}, {@link #delete} or {@link #deleteRange} of the key in the
     * same batch drops the pending value (it is not written after them); a {@link BatchOperation}
     * rolled back restores the values pending before it. The arrays are kept until the batch is
     * taken: the caller must not change them.
     */
    public void putOncePerBatch(StoreColumn column, byte[] key, byte[] value) {
        putAtEnd(column, key, value, false);
    }

    /**
     * Puts a record that is new: the caller knows the key has no value in the store and none
     * earlier in the open batch (a queue entry's fresh sequence number). Written at the batch's
     * end like {@link #putOncePerBatch}; a {@link #delete} of the key in the same batch then
     * removes it and writes nothing at all: neither the put nor a tombstone reaches RocksDB (an
     * entry queued and moved into the in-flight window by the same operation).
     */
    public void putNew(StoreColumn column, byte[] key, byte[] value) {
        putAtEnd(column, key, value, true);
    }

    /** A value written at the batch's end: fresh ({@link #putNew}) or once per batch ({@link #putOncePerBatch}). */
    private void putAtEnd(StoreColumn column, byte[] key, byte[] value, boolean fresh) {
        synchronized (lock) {
            refuseIfSealed();
            boolean wasEmpty = open.isEmpty();
            open.endPuts.put(column, key, value, fresh);
            if (wasEmpty) {
                open.firstAppendNanos = System.nanoTime();
                lock.notify();
            }
        }
    }

    /** Sets the hook that appends each batch's last writes before it is written (see {@link LastWrites}). */
    public void lastWrites(LastWrites hook) {
        synchronized (lock) {
            endWrites.hook(hook);
        }
    }

    /**
     * Wakes the committer when the open batch just stopped being empty: once per batch is
     * enough (it re-checks before waiting), and waking it on every append only makes it
     * fight the appending thread for the lock.
     */
    private void wakeIfFirst() {
        if (open.count + open.completions.size() + open.endPuts.size() == 1) {
            open.firstAppendNanos = System.nanoTime();
            lock.notify();
        }
    }

    /** Deletes every key in [from, to). */
    public void deleteRange(StoreColumn column, byte[] from, byte[] to) {
        synchronized (lock) {
            refuseIfSealed();
            open.endPuts.dropRange(column, from, to);
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
            StoreWriteException refused = refusal(true);
            if (refused != null) {
                pipeline.safeFail(completion, refused);
                return;
            }
            open.completions.add(completion);
            wakeIfFirst();
        }
    }

    /** Under the lock: throws if a write may not be appended now (see {@link #refusal}). */
    private void refuseIfSealed() {
        StoreWriteException refused = refusal(false);
        if (refused != null) {
            throw refused;
        }
    }

    /**
     * Under the lock: why nothing may be appended now, or null. A write is refused only once
     * sealed (closing or dead, it still joins the open batch, which is committed or failed as a
     * whole); a completion is refused also while closing or dead, and failed at once, so that it
     * never waits for a batch nobody will write.
     */
    private StoreWriteException refusal(boolean completion) {
        if (completion && closing) {
            return new StoreWriteException("engine is closed", null);
        }
        if (sealed) {
            return new StoreWriteException(completion
                    ? "not written: an operation failed and the engine resets to its last durable state"
                    : "not written: an operation failed and the engine resets to its last durable"
                    + " state; nothing built on its image may be committed", null);
        }
        if (completion && dead) {
            return new StoreWriteException("not written: the committer stopped after an internal error; the engine resets", null);
        }
        return null;
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
     * on stay in the batch only if the scope ends with {@link BatchOperation#succeeded()}; closing it
     * without that takes them out again (a RocksDB save point on the batch, plus the count and
     * the completion list cut back). So an error in the middle of an operation never leaves half
     * of its writes to be committed. The caller holds the lock from here to the scope's end: the
     * batch cannot be swapped under it.
     */
    public BatchOperation operation() {
        synchronized (lock) {
            open.writes.setSavePoint();
            return new BatchOperation(this, lock, open, open.count, open.completions.size(), open.endPuts.mark());
        }
    }

    /**
     * Forgets a failure after the owner rebuilt its state from the store: the open batch
     * (built on the failed state) is dropped and its completions fail.
     */
    public void reset() {
        CommitBatch dropped;
        synchronized (lock) {
            epoch++;
            failedEpoch = -1;
            dropped = open;
            open = new CommitBatch(epoch);
        }
        pipeline.fail(dropped, new StoreWriteException("discarded: the engine reset to its last durable state", null));
        dropped.writes.close();
    }

    /**
     * System.nanoTime when the batch whose completions are running became durable: for a
     * completion to time itself. Only meaningful inside {@link Completion#durable()}.
     */
    public long writeEndedNanos() {
        return pipeline.writeEndedNanos();
    }

    /** True while this committer cannot commit: a write failed (until reset) or a thread died. */
    public boolean isFailed() {
        synchronized (lock) {
            return dead || failedEpoch == epoch;
        }
    }

    /**
     * For the writer ({@link CommitWriter}): waits for a batch with something in it and swaps in a
     * new open batch, under the lock; null once closing (or dead) with nothing left.
     */
    CommitBatch takeOpenBatch() throws InterruptedException {
        synchronized (lock) {
            while (open.isEmpty() && !closing && !dead) {
                lock.wait();
            }
            if (dead || open.isEmpty()) {
                return null;
            }
            CommitBatch batch = open;
            open = new CommitBatch(epoch);
            batch.poisoned = batch.epoch == failedEpoch || batch.epoch != epoch;
            if (!batch.poisoned) {
                // Under the lock, so no operation is half-appended; a batch that fails instead gets none.
                batch.lastWritesError = endWrites.appendTo(batch);
                if (batch.lastWritesError != null) {
                    failedEpoch = batch.epoch; // without its last writes the batch is never written, nor any after it
                }
            }
            return batch;
        }
    }

    /** Every batch of {@code failed} not written yet will fail; the observer is told later, in commit order. */
    private void poison(long failed) {
        synchronized (lock) {
            failedEpoch = failed;
        }
    }

    /** For a {@link BatchOperation}, under the lock: whether {@code batch} is still the open one. */
    boolean isOpen(CommitBatch batch) {
        return batch == open;
    }

    /** Poisons {@code failed} and tells the observer once per epoch (outside the lock: it may reset). */
    void markFailed(long failed, StoreWriteException cause) {
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

    /** Marks the committer dead, fails what is open and reports the failure (once); also the writer's death handler. */
    void stopCommitting(StoreWriteException cause) {
        CommitBatch leftover;
        long failed;
        synchronized (lock) {
            dead = true;
            failed = epoch;
            leftover = open;
            open = new CommitBatch(epoch);
            lock.notifyAll(); // a writer waiting for work stops
        }
        markFailed(failed, cause);
        pipeline.fail(leftover, cause);
        leftover.writes.close();
    }

    /** What the pipeline calls back: failures, measurements, counting. */
    private final class PipelineOwner implements CommitPipeline.Owner {
        @Override
        public void failed(long failedEpoch, StoreWriteException cause) {
            markFailed(failedEpoch, cause);
        }

        @Override
        public void committed(CommitBatch batch) {
            if (batch.count == 0) {
                return; // nothing was written: not a commit
            }
            try {
                observer.committed(batch.count, batch.completions.size(), batch.writeEndedNanos - batch.writeStartNanos);
            } catch (Throwable e) {
                log.error("commit observer threw", e);
            }
        }

        @Override
        public void completionThrew(Throwable error) {
            observer.completionThrew(error);
        }

        @Override
        public void completerDied(StoreWriteException cause) {
            stopCommitting(cause);
        }
    }

    /** Commits what is open and everything in flight, then stops both threads. */
    @Override
    public void close() {
        synchronized (lock) {
            closing = true;
            lock.notifyAll();
        }
        try {
            writer.join(30_000);
            pipeline.join(60_000); // a batch log's future times out by itself (a replicated log: 30 s)
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!writer.isAlive()) {
            // A dead writer (or one that stopped on an interrupt) left these behind: fail them, never leave them waiting.
            CommitBatch leftover;
            synchronized (lock) {
                leftover = open;
                open = new CommitBatch(epoch);
            }
            pipeline.fail(leftover, new StoreWriteException("not written: the committer stopped", null));
            leftover.writes.close();
        }
    }
}
