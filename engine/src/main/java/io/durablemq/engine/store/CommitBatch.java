package io.durablemq.engine.store;

import org.rocksdb.WriteBatch;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * One group commit: the writes and completions appended between two swaps of the open batch,
 * and, once the writer took it, what became of its write. Appends happen under the committer's
 * lock; after the swap only the writer touches {@link #writes}, and only the thread that runs its
 * completions (the completion thread, or the writer when it completes the batch itself, see
 * {@link CommitPipeline}; or a death handler, once that thread is gone) touches {@link #nextCompletion}.
 */
final class CommitBatch {
    final WriteBatch writes = new WriteBatch();
    final List<Committer.Completion> completions = new ArrayList<>();
    final long epoch;
    /** Writes in {@link #writes}; {@link #endPuts} join them (and this count) when the batch is taken. */
    int count;
    /** Per column (by ordinal): plain puts minus SingleDeletes written ({@link Committer.Appender#putsLessSingleDeletes}). */
    final int[] putsLessSingleDeletes = new int[StoreColumn.values().length];
    /** Records rewritten several times in the batch, written once at its end ({@link Committer#putOncePerBatch}). */
    final BatchEndPuts endPuts = new BatchEndPuts();
    /** System.nanoTime of the first append; one figure per batch, so appends allocate nothing more. */
    long firstAppendNanos;
    /** True when the writer took it after a failure of its epoch: it is failed without a write. */
    boolean poisoned;
    /** What the committer's last-writes hook threw when the batch was taken (then it is failed without a write). */
    Throwable lastWritesError;
    /** System.nanoTime when its write started (0 when nothing was written). */
    long writeStartNanos;
    /** System.nanoTime when it became durable; set before {@link #outcome} completes, read after. */
    volatile long writeEndedNanos;
    /** Set by the writer before it hands the batch over: done once durable, failed if the outcome is unknown. */
    CompletableFuture<Void> outcome;
    /**
     * True when {@link #outcome} was done, and not failed, as the write returned: a log that keeps
     * {@link BatchLog}'s own {@code submit} (the local RocksDB write), or nothing to write on such a
     * log. A log with its own {@code submit} (a replicated log) answers later: false, so its batch
     * is always handed to the completion thread. Writer only.
     */
    boolean durableOnReturn;
    /**
     * True once anything but an operation that may wait for the next commit ({@link Committer#mayWaitForNextCommit()})
     * joined the batch. Under the committer's lock; read through {@link #isReady()}.
     */
    boolean prompt;
    /** System.nanoTime when it became {@link #isReady()} (0: never; then it was taken by the ride-along time or at close). */
    long readyNanos;
    /** Index of the next completion to run; read by a death handler to fail only the rest. */
    int nextCompletion;

    CommitBatch(long epoch) {
        this.epoch = epoch;
    }

    boolean isEmpty() {
        return count == 0 && completions.isEmpty() && endPuts.isEmpty();
    }

    /**
     * The writer takes it as soon as the pipeline has room: something that may not wait joined it, and it
     * holds something (writes can cancel out: a fresh put deleted in the same batch writes nothing, and an
     * empty batch taken would read as the committer closing). A batch of only operations that may wait
     * waits up to {@link Committer#RIDE_ALONG_MILLIS} from its first append instead.
     */
    boolean isReady() {
        return prompt && !isEmpty();
    }
}
