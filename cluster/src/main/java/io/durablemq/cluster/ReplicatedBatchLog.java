package io.durablemq.cluster;

import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Store;
import org.apache.ratis.protocol.RaftClientReply;
import org.rocksdb.WriteBatch;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The leader's {@link BatchLog}: a commit batch becomes one Raft log entry, and its future
 * ({@link #submit}) completes only when a majority has it (each fsynced in fsync mode) and this node's state machine
 * has applied it to the engine's store. One instance serves one leadership: once
 * {@linkplain #fence() fenced} (leadership lost, or a write failed) it refuses every write, so
 * nothing the engine does afterwards is acknowledged.
 */
final class ReplicatedBatchLog implements BatchLog {
    /** How long a write may wait for its commit; past it the outcome is unknown and the node stops serving. */
    static final long COMMIT_TIMEOUT_SECONDS = 30;

    private final RaftNode raft;
    private final StoreSlot slot;
    private final Runnable onFailure;
    private final EntrySizes sizes;
    private boolean fenced;
    /** Submitted entries whose outcome is not known yet (the committer may have several in flight). */
    private int outstanding;

    ReplicatedBatchLog(RaftNode raft, StoreSlot slot, Runnable onFailure, EntrySizes sizes) {
        this.raft = raft;
        this.slot = slot;
        this.onFailure = onFailure;
        this.sizes = sizes;
    }

    @Override
    public void write(Store store, WriteBatch batch) throws Exception {
        try {
            submit(store, batch).get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
    }

    /**
     * Appends the batch to the leader's Raft log and returns at once; the future completes when a
     * majority has it and it is applied here. Ratis appends a request to its log inside this call,
     * on the committer's writer thread, so entries are in submission order, and one that is refused
     * is refused here (its future is already done, failed): the committer then submits nothing more,
     * so the log never holds a later batch without an earlier one. The bytes are copied before
     * this returns ({@code batch.data()}), so the committer may close the batch.
     */
    @Override
    public CompletableFuture<Void> submit(Store store, WriteBatch batch) throws Exception {
        synchronized (this) {
            if (fenced) {
                throw new NotServingException("not committed: this node no longer leads the cluster");
            }
            outstanding++;
        }
        CompletableFuture<RaftClientReply> reply;
        try {
            slot.attachEngineStore(store);
            byte[] data = batch.data();
            reply = raft.submit(data);
            sizes.record(batch.count(), data.length);
        } catch (Exception | Error e) {
            failed();
            done();
            throw e;
        }
        // on a copy: completing Ratis's own future with the timeout could disturb its bookkeeping
        CompletableFuture<Void> durable = reply.copy().orTimeout(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS).handle((r, e) -> {
            try {
                if (e != null) {
                    failed();
                    throw new CompletionException(e instanceof CompletionException c && c.getCause() != null ? c.getCause() : e);
                }
                if (!r.isSuccess()) {
                    failed();
                    throw new CompletionException(new NotServingException(
                            "not committed by the cluster (outcome unknown): " + r.getException(), r.getException()));
                }
                return null;
            } finally {
                done();
            }
        });
        if (durable.isCompletedExceptionally()) {
            durable.get(); // refused by Ratis at once: throws here, so the committer stops submitting
        }
        return durable;
    }

    /**
     * Outcome unknown: this entry (and any submitted after it) may still be committed by a later
     * leader. Nothing more may be applied to the engine's store from here (the engine reopens it on
     * a failed commit): fence, detach it, and have the node step down.
     */
    private void failed() {
        fenceLocked();
        slot.detach();
        onFailure.run();
    }

    private synchronized void done() {
        outstanding--;
        notifyAll();
    }

    private synchronized void fenceLocked() {
        fenced = true;
    }

    /** Refuses every later write and waits until every submitted entry's outcome is known. */
    synchronized void fence() throws InterruptedException {
        fenced = true;
        while (outstanding > 0) {
            wait();
        }
    }

    /** A write refused or failed because this node does not (or no longer) lead. */
    static final class NotServingException extends Exception {
        NotServingException(String message) {
            super(message);
        }

        NotServingException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
