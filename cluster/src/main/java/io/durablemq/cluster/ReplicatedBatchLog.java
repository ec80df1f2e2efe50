package io.durablemq.cluster;

import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Store;
import org.apache.ratis.protocol.RaftClientReply;
import org.rocksdb.WriteBatch;

import java.util.concurrent.TimeUnit;

/**
 * The leader's {@link BatchLog}: a commit batch becomes one Raft log entry, and {@link #write}
 * returns only when a majority has it (each fsynced in fsync mode) and this node's state machine
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
    private boolean fenced;
    private boolean writing;

    ReplicatedBatchLog(RaftNode raft, StoreSlot slot, Runnable onFailure) {
        this.raft = raft;
        this.slot = slot;
        this.onFailure = onFailure;
    }

    @Override
    public void write(Store store, WriteBatch batch) throws Exception {
        synchronized (this) {
            if (fenced) {
                throw new NotServingException("not committed: this node no longer leads the cluster");
            }
            writing = true;
        }
        try {
            slot.attachEngineStore(store);
            RaftClientReply reply = raft.submit(batch.data()).get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (!reply.isSuccess()) {
                throw new NotServingException("not committed by the cluster (outcome unknown): " + reply.getException(),
                        reply.getException());
            }
        } catch (Exception e) {
            // Outcome unknown: this entry may still be committed by a later leader. Nothing more may be applied
            // to the engine's store from here (the engine reopens it on a failed commit): detach it first.
            fenceLocked();
            slot.detach();
            onFailure.run();
            throw e;
        } finally {
            synchronized (this) {
                writing = false;
                notifyAll();
            }
        }
    }

    private synchronized void fenceLocked() {
        fenced = true;
    }

    /** Refuses every later write and waits until a write in progress has returned. */
    synchronized void fence() throws InterruptedException {
        fenced = true;
        while (writing) {
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
