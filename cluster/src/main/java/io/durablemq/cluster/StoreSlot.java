package io.durablemq.cluster;

import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
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
    private AppliedEntry noRecord = AppliedEntry.NONE;
    /**
     * The attached store's last applied entry as this slot last read or wrote it, null when not known:
     * each apply needs it, and reading it back from RocksDB for every entry costs a JNI call and a
     * lookup. Only this slot writes the record, in the same write as the entry, so the copy stays
     * right while the same store is attached; it is forgotten whenever the attached store changes.
     */
    private AppliedEntry lastApplied;

    /** What {@link #apply} did with one entry. */
    enum Outcome {
        /** Written, with the applied-entry record in the same write. */
        APPLIED,
        /** The store already holds it (a replay after a restart): nothing written. */
        SKIPPED,
        /** The node is closing: not applied; replayed at the next start. */
        CLOSING
    }

    /**
     * Applies one committed entry (a batch's serialized bytes; null for an entry without a batch, a
     * configuration or a leader's first entry, of which only the position is recorded) to the
     * attached store, waiting for one if needed. The entry's term and index are written in the same
     * {@code WriteBatch} ({@link AppliedEntry}); an entry the store already holds is skipped and one
     * that does not follow it refuses ({@link ExactReplay}). Returns {@link Outcome#CLOSING}, without
     * applying, once the node is closing: Ratis drains its committed entries into the state machine
     * while it shuts down, and those are replayed at the next start.
     */
    Outcome apply(byte[] batchBytes, long term, long index) throws Exception {
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
                return Outcome.CLOSING;
            }
            if (ExactReplay.step(appliedLocked(), term, index, store.dir()) == ExactReplay.Step.SKIP) {
                return Outcome.SKIPPED;
            }
            try (WriteBatch batch = batchBytes == null ? new WriteBatch() : new WriteBatch(batchBytes)) {
                AppliedEntry entry = new AppliedEntry(term, index);
                batch.put(store.handle(StoreColumn.META), StoreFormat.RAFT_APPLIED_KEY, entry.encode());
                store.write(batch);
                lastApplied = entry;
            }
            return Outcome.APPLIED;
        }
    }

    /**
     * What a store without the applied-entry record holds: the snapshot it was restored from (one
     * taken before the record existed), else nothing. Set before Ratis applies anything.
     */
    synchronized void noRecordMeans(AppliedEntry entry) {
        this.noRecord = entry;
        lastApplied = null;
    }

    /** The last entry the attached store holds, or null when no store is attached. */
    synchronized AppliedEntry applied() {
        return store == null ? null : appliedLocked();
    }

    /** The attached store's own record, or null when it has none (or no store is attached). */
    synchronized AppliedEntry recorded() {
        return store == null ? null : AppliedEntry.read(store);
    }

    private AppliedEntry appliedLocked() {
        if (lastApplied == null) {
            AppliedEntry e = AppliedEntry.read(store);
            lastApplied = e == null ? noRecord : e;
        }
        return lastApplied;
    }

    /** Sets the attached store (null: none); the applied entry is read from the new store when next needed. */
    private void attach(Store s, boolean ownedByThisSlot) {
        store = s;
        owned = ownedByThisSlot;
        lastApplied = null;
    }

    /**
     * Writes a RocksDB checkpoint of the attached store into {@code target}. Holding the slot, no
     * hand-over can close the store meanwhile. Returns false, writing nothing, when no store is
     * attached (a hand-over or shutdown): the snapshot is then simply taken later.
     */
    synchronized boolean checkpoint(java.nio.file.Path target) throws java.io.IOException {
        if (store == null || closed) {
            return false;
        }
        try {
            store.checkpoint(target);
        } catch (org.rocksdb.RocksDBException e) {
            throw new java.io.IOException("cannot checkpoint the store " + store.dir() + " into " + target + ": " + e.getMessage(), e);
        }
        return true;
    }

    /**
     * Flushes the attached store's memtables without holding the slot, so applies go on meanwhile.
     * Returns false when no store is attached or it was closed before the flush began (a hand-over).
     */
    boolean flushMemtables() throws java.io.IOException {
        Store s;
        synchronized (this) {
            s = closed ? null : store;
        }
        if (s == null) {
            return false;
        }
        try {
            return s.flushIfOpen();
        } catch (org.rocksdb.RocksDBException e) {
            throw new java.io.IOException("cannot flush the store " + s.dir() + ": " + e.getMessage(), e);
        }
    }

    /** Something done with the attached store while no batch can be applied to it. */
    interface StoreAction<T> {
        T run(Store store, long appliedIndex) throws Exception;
    }

    /**
     * Runs {@code action} on the attached store, holding the slot: no apply, hand-over or close
     * happens meanwhile, so the store is exactly the state at {@code appliedIndex}: the entry its
     * own record names ({@link AppliedEntry}, written with every applied entry), or the snapshot it
     * came from. Returns null, without running it, when no store is attached (a hand-over, or the
     * node is closing).
     */
    synchronized <T> T withStore(StoreAction<T> action) throws Exception {
        if (store == null || closed) {
            return null;
        }
        return action.run(store, appliedLocked().index());
    }

    /** What {@link #replaceFollowerStore} does with the data folder while no store is open on it. */
    interface FolderSwap {
        void run() throws Exception;
    }

    /**
     * Closes the follower's own store, lets {@code swap} rewrite its folder (a snapshot install),
     * and attaches the store {@code reopen} opens. Waits while the engine's store is attached: a
     * node receives a snapshot only as a follower, so its role loop is about to stop serving and
     * reattach its own store. If the swap or the reopen fails the slot stays empty (applies wait)
     * and the exception goes to Ratis, which stops this node's server: it is never half loaded.
     */
    synchronized void replaceFollowerStore(FolderSwap swap, java.util.concurrent.Callable<Store> reopen) throws Exception {
        while (!closed && (store == null || !owned)) {
            wait(1_000);
        }
        if (closed) {
            throw new java.io.IOException("the node is closing: the snapshot is loaded at the next start");
        }
        store.close();
        attach(null, false);
        swap.run();
        attach(reopen.call(), true);
        notifyAll();
    }

    /** The follower's own store, opened by the caller. */
    synchronized void attachOwned(Store own) {
        attach(own, true);
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
        attach(engineStore, false);
        notifyAll();
    }

    /**
     * Empties the slot without closing the follower's own store and gives it to the caller (the
     * engine of a node that starts serving: no second RocksDB open of the same folder). Waits for an
     * apply in progress; applies wait from now on until the engine's first commit attaches the store.
     */
    synchronized Store handOver() {
        if (store == null || !owned) {
            throw new IllegalStateException("no follower store to hand over (" + (store == null ? "empty" : "the engine's") + ")");
        }
        Store s = store;
        attach(null, false);
        return s;
    }

    /** Empties the slot (closing the follower's own store); waits for an apply in progress. */
    synchronized void detach() {
        if (owned && store != null) {
            store.close();
        }
        attach(null, false);
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
