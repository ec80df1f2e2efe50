package io.durablemq.engine.store;

import java.util.concurrent.TimeUnit;

/**
 * Group commit, pipelined. Callers append writes and completions to the open batch (cheap, in
 * memory). The writer thread takes the whole open batch, writes it through the {@link BatchLog}
 * with a single RocksDB write (one fsync in fsync mode) or one replicated log entry, and hands it
 * to the {@link CommitPipeline}, whose own thread runs the batch's completions in the order they
 * were appended, batch after batch in commit order, once the batch is durable. While one batch
 * waits on the disk the next fills up, so the fsync cost is shared by everything that arrived
 * meanwhile; while its completions run, the next write is already under way; and with a log
 * that takes several batches before the first is durable (Raft), up to {@code batchesInFlight}
 * are outstanding. One batch in flight is the committer before the pipeline. When the writer
 * finds nothing to overlap (its batch durable on return, nothing in flight, nothing appended
 * meanwhile) it runs the batch's completions itself, saving the hand-off ({@link CommitPipeline}).
 *
 * <p>This class is what the owner calls. It sends each append (puts, deletes, values written at
 * the batch's end, completions) to the calling thread's operation scope ({@link BatchOperation},
 * {@link OperationScopes}) or to the {@link OpenBatch} (how a write joins it: {@link
 * BatchWriteRules}), and it seals, resets and closes the committer: its {@link CommitterState}
 * (epochs, sealed, closing, dead) is changed and checked under the lock the open batch is swapped
 * under. The thread that takes and writes the batches is a {@link CommitWriter}; what a batch gets
 * as it is taken is {@link BatchEndWrites}; the completions run in the {@link CommitPipeline},
 * which reports back through {@link PipelineReports}.
 *
 * <p>The writes of one logical operation land in the same batch either because they are made
 * inside an operation scope ({@link #operation()}: collected privately, appended in one critical
 * section when the operation succeeds, discarded when it fails), or because the caller appends
 * them all while holding the lock passed in (the owner's own lock, under which the batch is
 * swapped).
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

        /**
         * A durable batch's completions run next: on the writer ({@code onWriter}, no hand-off:
         * nothing was in flight or waiting) or on the completion thread. A figure for measurements.
         */
        default void completionsRunBy(boolean onWriter) {
        }
    }

    /**
     * Appends a batch's last writes just before it is written: a figure that sums up the whole
     * batch (the number of stored bodies) is written once per batch instead of once per change.
     * Called on the committer thread, under the committer's lock (so no operation is
     * half-appended), for every batch about to be written; never for a batch that is failed
     * instead. It must not take the owner's own lock (the engine's operations take that before
     * the committer's): what it writes must come from the batch ({@link Appender}) or from state
     * only the hook changes.
     */
    public interface LastWrites {
        void append(Appender batch);
    }

    /** What {@link LastWrites} may append to the batch being taken, and what it may read of it. */
    public interface Appender {
        void put(StoreColumn column, byte[] key, byte[] value);

        /**
         * Plain puts ({@link #put}) minus SingleDeletes written to {@code column} in this batch
         * (end puts and the hook's own writes not counted). For a column whose keys are put once
         * and SingleDeleted once (message bodies), the change in how many records it holds: a
         * figure the batch's own content gives, whichever thread appended what.
         */
        int putsLessSingleDeletes(StoreColumn column);
    }

    /**
     * The lock passed in: the open batch is appended to and swapped, and the state changed, only
     * under it (see {@link OpenBatch}).
     */
    private final Object lock;
    /** The thread that takes the open batch, writes it and hands it to the pipeline. */
    private final CommitWriter writer;
    private final CommitPipeline pipeline;
    /** Epochs, sealed, closing, dead: guarded by the lock, like the open batch. */
    private final CommitterState state;
    /** The batch the appends join, taken by the writer. */
    private final OpenBatch open;
    /** Each thread's open operation scope ({@link #operation()}). */
    private final OperationScopes scopes = new OperationScopes();

    /** A committer on the local store with the default number of batches in flight (tests). */
    public Committer(Store store, Observer observer, Object lock, CommitFaults faults) {
        this(store, observer, lock, faults, BatchLog.LOCAL, DEFAULT_BATCHES_IN_FLIGHT);
    }

    /**
     * @param batchLog        makes a batch durable: the local RocksDB write ({@link BatchLog#LOCAL}, also
     *                        for null), or a replicated log
     * @param batchesInFlight how many batches may be written (or submitted to {@code batchLog}) and
     *                        not yet completed; 1 writes the next batch only after the last one's
     *                        completions ran (see {@link CommitPipelineDepth})
     */
    public Committer(Store store, Observer observer, Object lock, CommitFaults faults, BatchLog batchLog,
                     int batchesInFlight) {
        this.lock = lock;
        this.state = new CommitterState(lock, observer);
        CommitFaults hooks = faults == null ? CommitFaults.NONE : faults;
        this.open = new OpenBatch(lock, state, store, TimeUnit.MILLISECONDS.toNanos(hooks.rideAlongMillis()));
        BatchWriter batchWriter = new BatchWriter(store, batchLog == null ? BatchLog.LOCAL : batchLog,
                hooks, observer, state::poison);
        this.pipeline = new CommitPipeline(batchesInFlight, new PipelineReports(observer, state, this));
        this.writer = new CommitWriter(this, open, batchWriter, pipeline);
        this.writer.start();
    }

    public void put(StoreColumn column, byte[] key, byte[] value) {
        append(BatchOperation.Kind.PUT, column, key, value);
    }

    public void delete(StoreColumn column, byte[] key) {
        append(BatchOperation.Kind.DELETE, column, key, null);
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
     * operation scope ({@link BatchOperation}) these checks are made when the operation is
     * appended, against the batch it joins: a refusal then leaves the batch as it was and fails
     * the operation; a scope that fails never reaches the batch at all.
     *
     * @throws IllegalStateException if a once-per-batch value is pending for the key
     */
    public void singleDelete(StoreColumn column, byte[] key) {
        append(BatchOperation.Kind.SINGLE_DELETE, column, key, null);
    }

    /**
     * Puts {@code key}'s value once per batch: only the last value put in the open batch is
     * written, when the committer takes the batch (before the {@link LastWrites} hook). For a
     * record rewritten with every change of what it sums up (a session record carrying its queue's
     * counters), so that the batch ends with the same record at one write instead of one per
     * change. A later plain {@link #put}, {@link #delete} or {@link #deleteRange} of the key in the
     * same batch drops the pending value (it is not written after them); an operation scope that
     * fails ({@link BatchOperation}) never changed the pending values. The arrays are kept until the batch is
     * taken: the caller must not change them.
     */
    public void putOncePerBatch(StoreColumn column, byte[] key, byte[] value) {
        append(BatchOperation.Kind.PUT_ONCE_PER_BATCH, column, key, value);
    }

    /**
     * Declares that the calling thread's open operation may wait for the next commit: nothing waits
     * for its writes, and losing them in a crash breaks no promise, because that only makes the
     * broker repeat something a client must accept again (a subscriber's PUBACK or PUBCOMP that freed
     * a window slot and refilled nothing: lost, the message is resent with DUP, or the PUBREL is
     * resent). Such an operation does not wake the writer: it rides in the open batch with the next
     * operation that does, in that one write and fsync, or is written on its own after
     * {@link #RIDE_ALONG_MILLIS}. So a subscriber's acknowledgement no longer takes a turn at the disk
     * ahead of the next publish. Outside an operation scope this does nothing.
     */
    public void mayWaitForNextCommit() {
        BatchOperation op = scopes.current();
        if (op != null) {
            op.mayWaitForNextCommit();
        }
    }

    /**
     * How long a batch of operations that may wait for the next commit waits for one that may not,
     * before the writer takes it alone: an idle broker's last acknowledgements still reach the disk
     * within this, in one write.
     */
    public static final long RIDE_ALONG_MILLIS = 50;

    /**
     * Puts a record that is new: the caller knows the key has no value in the store and none
     * earlier in the open batch (a queue entry's fresh sequence number). Written at the batch's
     * end like {@link #putOncePerBatch}; a {@link #delete} of the key in the same batch then
     * removes it and writes nothing at all: neither the put nor a tombstone reaches RocksDB (an
     * entry queued and moved into the in-flight window by the same operation).
     */
    public void putNew(StoreColumn column, byte[] key, byte[] value) {
        append(BatchOperation.Kind.PUT_NEW, column, key, value);
    }

    /** Sets the hook that appends each batch's last writes before it is written (see {@link LastWrites}). */
    public void lastWrites(LastWrites hook) {
        open.lastWrites(hook);
    }

    /** Deletes every key in [from, to). */
    public void deleteRange(StoreColumn column, byte[] from, byte[] to) {
        append(BatchOperation.Kind.DELETE_RANGE, column, from, to);
    }

    /**
     * Runs {@code completion} once everything appended so far is durable (or has failed). Inside
     * an operation scope: once everything up to the operation's own writes is.
     */
    public void onDurable(Completion completion) {
        BatchOperation op = scopes.current();
        if (op != null) {
            op.record(completion);
            return;
        }
        StoreWriteException refused = open.append(completion);
        if (refused != null) {
            pipeline.safeFail(completion, refused); // outside the lock: a failed completion may call its owner, which may take its own lock
        }
    }

    /**
     * One write: recorded in the calling thread's operation scope if it has one (appended with the
     * rest of the operation when it succeeds, see {@link BatchOperation}), else appended to the
     * open batch at once, under the lock. Refused at once while sealed, either way.
     */
    private void append(BatchOperation.Kind kind, StoreColumn column, byte[] key, byte[] value) {
        BatchOperation op = scopes.current();
        if (op != null) {
            if (state.isSealed()) {
                state.refuseIfSealed();
            }
            op.record(kind, column, key, value);
            return;
        }
        scopes.refuseUnscoped(kind, column);
        open.append(kind, column, key, value);
    }

    /**
     * Appends a succeeded operation's writes and completions to the open batch in one critical
     * section, whole or not at all ({@link OpenBatch#append(BatchOperation)}: if a write throws,
     * the batch is as it was, the exception propagates and the caller fails the operation).
     * Completions are refused (failed at once) as {@link #onDurable} would refuse them.
     */
    void append(BatchOperation op) {
        if (op.writes.isEmpty() && op.completions.isEmpty()) {
            return;
        }
        StoreWriteException refused = open.append(op);
        if (refused != null) {
            for (Completion c : op.completions) {
                pipeline.safeFail(c, refused); // outside the lock, as in onDurable
            }
        }
    }

    /**
     * Seals this committer: what is open is committed as usual (the operations in it succeeded),
     * but every later append is refused, because the owner's in-memory image is no longer what
     * the store will hold. The owner then replaces this committer after rebuilding its image.
     */
    public void seal() {
        state.seal();
    }

    /**
     * Opens an operation scope on the calling thread: the writes and completions it appends on
     * this committer from now on are collected privately and reach the open batch only if the
     * scope ends with {@link BatchOperation#succeeded()}, all in one critical section; closing it
     * without that discards them. So an error in the middle of an operation never leaves half of
     * its writes to be committed, and the caller need not hold the lock from here to the scope's
     * end (engine/README.md, "Towards partitions"). A scope opened while the thread has one is
     * its child (see {@link BatchOperation}).
     */
    public BatchOperation operation() {
        return scopes.open(this);
    }

    /**
     * The calling thread's open operation scope, or null: an owner keeps per-operation state
     * (one completion per operation instead of one per change) by its identity.
     */
    public BatchOperation currentOperation() {
        return scopes.current();
    }

    /**
     * From now on every write must be made inside an operation scope: a write outside one throws
     * {@link IllegalStateException} before anything changed. For an owner that does not hold this
     * committer's lock around its operations (the engine since step 2 of "Towards partitions"), a
     * write outside a scope could be split from its operation's other writes by a batch boundary.
     * Completions alone may still be appended outside a scope (one completion is atomic).
     */
    public void requireOperationScope() {
        scopes.require();
    }

    /**
     * Forgets a failure after the owner rebuilt its state from the store: the open batch
     * (built on the failed state) is dropped and its completions fail.
     */
    public void reset() {
        CommitBatch dropped;
        synchronized (lock) {
            state.nextEpoch();
            dropped = open.swap();
        }
        failUnwritten(dropped, new StoreWriteException("discarded: the engine reset to its last durable state", null));
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
        return state.isFailed();
    }

    /** Batches handed to the completion thread and not completed yet (tests). */
    int batchesInFlight() {
        return pipeline.inFlight();
    }

    /** How many batches the writer completed itself, without the hand-off to the completion thread (tests). */
    long batchesCompletedOnWriter() {
        return pipeline.completedOnWriter();
    }

    /** Marks the committer dead, fails what is open and reports the failure (once); also the writer's death handler. */
    void stopCommitting(StoreWriteException cause) {
        CommitBatch leftover;
        long failed;
        synchronized (lock) {
            failed = state.die();
            leftover = open.swap();
            lock.notifyAll(); // a writer waiting for work stops
        }
        state.markFailed(failed, cause);
        failUnwritten(leftover, cause);
    }

    /** Fails the completions of a batch swapped out of the open one, never to be written, and frees its writes. */
    private void failUnwritten(CommitBatch batch, StoreWriteException cause) {
        pipeline.fail(batch, cause);
        batch.writes.close();
    }

    /** Commits what is open and everything in flight, then stops both threads. */
    @Override
    public void close() {
        synchronized (lock) {
            state.startClosing();
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
                leftover = open.swap();
            }
            failUnwritten(leftover, new StoreWriteException("not written: the committer stopped", null));
        }
    }
}
