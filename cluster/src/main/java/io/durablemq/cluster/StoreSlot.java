package io.durablemq.cluster;

import io.durablemq.engine.store.Store;
import org.rocksdb.WriteBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;

/**
 * The RocksDB store the state machine applies committed batches to. On a follower it is a
 * store this node opened itself; on the serving leader it is the engine's own store (the
 * engine opened it; its committer's first write attaches it here). Between the two (a hand-over)
 * the slot is empty and an apply waits: a batch is never applied to a store that is being closed,
 * and never skipped.
 */
final class StoreSlot {
    private static final Logger log = LoggerFactory.getLogger(StoreSlot.class);

    private Store store;
    /** True when this slot opened {@link #store} itself and must close it on detach. */
    private boolean owned;
    private boolean closed;

    /**
     * Applies one committed batch (its serialized bytes) to the attached store, waiting for one if
     * needed. Returns false, without applying, once the node is closing: Ratis drains its committed
     * entries into the state machine while it shuts down, and those are replayed at the next start
     * (the applied index is not persisted, see {@link BatchStateMachine}).
     */
    boolean apply(byte[] batchBytes, long index) throws Exception {
        synchronized (this) {
            long waitedSince = System.nanoTime();
            while (store == null && !closed) {
                wait(1_000);
                if (store == null && System.nanoTime() - waitedSince > TimeUnit.SECONDS.toNanos(10)) {
                    log.warn("raft entry {} waits for a store to apply to (a leadership hand-over is in progress)", index);
                    waitedSince = System.nanoTime();
                }
            }
            if (closed) {
                log.debug("node is closing: raft entry {} not applied (it is replayed at the next start)", index);
                return false;
            }
            try (WriteBatch batch = new WriteBatch(batchBytes)) {
                store.write(batch);
            }
            return true;
        }
    }

    /** The follower's own store, opened by the caller. */
    synchronized void attachOwned(Store own) {
        store = own;
        owned = true;
        notifyAll();
    }

    /** The engine's store: from now on committed batches land where the engine reads. Idempotent. */
    synchronized void attachEngineStore(Store engineStore) {
        if (store == engineStore) {
            return;
        }
        if (owned && store != null) {
            throw new IllegalStateException("the follower store is still attached: the engine cannot share the data folder");
        }
        store = engineStore;
        owned = false;
        notifyAll();
    }

    /** Empties the slot (closing the follower's own store); waits for an apply in progress. */
    synchronized void detach() {
        if (owned && store != null) {
            store.close();
        }
        store = null;
        owned = false;
    }

    synchronized boolean hasStore() {
        return store != null;
    }

    synchronized void close() {
        detach();
        closed = true;
        notifyAll();
    }
}
