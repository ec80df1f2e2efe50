package io.durablemq.engine.store;

import org.rocksdb.WriteBatch;

import java.util.concurrent.CompletableFuture;

/**
 * Where the committer makes one batch durable: the one seam between the engine and a
 * replicated log. {@link #LOCAL} is the single node: one RocksDB write into the engine's own
 * store (sync in fsync mode), exactly what the committer always did. A cluster
 * ({@code durablemq-cluster}) instead appends {@code batch.data()} to its Raft log and completes
 * once a majority has it and this node's state machine has applied it to {@code store}.
 *
 * <p>Called on the committer's writer thread only, one batch at a time, in commit order. The
 * committer uses {@link #submit}: it may submit the next batches before an earlier one is
 * durable (up to its in-flight limit, see {@link Committer}), so an implementation that returns
 * a future not yet done must keep three promises: (1) the batch's bytes are taken before
 * {@code submit} returns (the committer closes the {@code WriteBatch} then); (2) batches become
 * durable in submission order, and a batch becomes durable only if every batch submitted before
 * it does (a log prefix: Raft's log matching gives this); (3) the future always completes (a
 * replicated log times out). Completing normally means durable and in {@code store}; failing
 * (or throwing) means the outcome is unknown: the committer fails that batch's completions and
 * every later batch's, and nothing in them is acknowledged.
 */
@FunctionalInterface
public interface BatchLog {
    /** Makes one batch durable and writes it to {@code store}; returns when done. */
    void write(Store store, WriteBatch batch) throws Exception;

    /**
     * Starts making one batch durable; the future completes once it is durable and in
     * {@code store}. The default writes at once (so the future is done on return): one batch
     * being written at a time, which is all a local RocksDB write allows without losing order.
     */
    default CompletableFuture<Void> submit(Store store, WriteBatch batch) throws Exception {
        write(store, batch);
        return CompletableFuture.completedFuture(null);
    }

    /** Today's single node: the local RocksDB write. */
    BatchLog LOCAL = Store::write;
}
