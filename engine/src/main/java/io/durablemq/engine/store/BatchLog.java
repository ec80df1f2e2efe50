package io.durablemq.engine.store;

import org.rocksdb.WriteBatch;

/**
 * Where the committer makes one batch durable: the one seam between the engine and a
 * replicated log. {@link #LOCAL} is the single node: one RocksDB write into the engine's own
 * store (sync in fsync mode), exactly what the committer always did. A cluster
 * ({@code durablemq-cluster}) instead appends {@code batch.data()} to its Raft log and returns
 * once a majority has it and this node's state machine has applied it to {@code store}.
 *
 * <p>Called on the committer thread only, one batch at a time, in commit order. Returning means
 * the batch is durable and in {@code store}; throwing anything means its outcome is unknown
 * (the committer fails the batch's completions and nothing in it is acknowledged).
 */
@FunctionalInterface
public interface BatchLog {
    void write(Store store, WriteBatch batch) throws Exception;

    /** Today's single node: the local RocksDB write. */
    BatchLog LOCAL = Store::write;
}
