package io.durablemq.engine.delivery;

import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.OperationLock;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * How many queue and in-flight entries reference each stored body, kept in the store instead of
 * in memory: a record in {@code refcounts} only where the count is above 1, so a body that one
 * entry references (a message routed to one queue, the common case) costs no record and no
 * write. A fan-out writes its count once, after routing; every release rewrites it in the batch
 * of the entry change that causes it; the last release deletes the body in that batch.
 *
 * <p><b>Sole references.</b> An entry whose body no other entry references says so
 * ({@link QueueEntry#soleReference()}, in memory only): routing marks it when the message had one
 * QoS 1/2 target, and a page read or recovery (first pages, in-flight windows) marks it when the
 * store has no count record for its body ({@code queue.SoleReferenceReader}). Its release deletes the body without reading any count. That is
 * sound because a body's count never grows after routing: once it is 1 it stays 1 until the
 * last release.
 *
 * <p><b>Overlay.</b> A read of a stored count must see the changes of batches not written yet
 * (the open one and the ones the committer is writing outside the lock), so each change is also
 * kept in an overlay of absolute counts until its batch is written: one completion per operation
 * that changes counts ({@link BatchWritten}, appended with the operation's writes, so in the batch
 * that holds them, whichever batch that turns out to be) removes the entries whose newest change
 * was that operation's once its batch is written. The overlay thus holds only shared bodies with
 * writes in unwritten batches: bounded by the commit rate, not by the backlog.
 *
 * <p><b>The body count</b> (meta's {@code stored-bodies}) is written once per batch, by the
 * committer's {@link Committer.LastWrites} hook, with the figure after everything in that batch:
 * the figure the last batch carried plus the bodies that batch itself puts less those it
 * SingleDeletes ({@link Committer.Appender#putsLessSingleDeletes}), so the hook reads nothing an
 * operation still running has changed and needs only the committer's lock (engine/README.md,
 * "Towards partitions", step 2). {@link #storedBodies()} is the live figure (every appended and
 * running operation), for statistics; a failed operation puts it back ({@link #operationRolledBack}).
 *
 * <p><b>Locking</b> (engine/README.md, "The partitioned engine: design", step 3): the counts and
 * the overlay are guarded by this class's own {@link OperationLock} ({@link OperationLock.Rank#BODY_REFS}),
 * not by the engine's lock. An operation takes it at its first count change (a fan-out's count
 * record, a release of a body not known to be sole) and holds it until its writes are appended
 * (strict two-phase locking): two releases of one fan-out body are then appended in the order
 * they read and changed its count, so the store never ends with an older count, and the last
 * release's body SingleDelete is never appended before an earlier release's entry delete. A
 * sole-reference release takes no lock: no other entry can reach its body. So only one operation
 * at a time is between its first count change and its append, which is what lets the overlay tag
 * its changes by that operation ({@link #operationBatch}). The overlay's cleanup (a completion)
 * takes the lock briefly. The live body count is an atomic; {@link #storedBodiesWritten} is
 * touched only by the hook (under the committer's lock) and recovery (before anything is appended).
 */
public final class BodyRefs implements Committer.LastWrites {
    /** Counts read from the store (not from the overlay) since the JVM started: a test hook. */
    private static final java.util.concurrent.atomic.LongAdder STORE_COUNT_READS = new java.util.concurrent.atomic.LongAdder();
    /** Names of the threads that read a count from the store since the last {@link #forgetCountReaderThreads()}: a test hook. */
    private static final java.util.Set<String> COUNT_READER_THREADS = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Guards the overlay and {@link #operationBatch}; held by a counting operation until its append. */
    private final OperationLock lock = new OperationLock("reference counts", OperationLock.Rank.BODY_REFS);
    private final Supplier<Store> store;
    /** Under {@link #lock}; concurrent only so that {@link #overlaySize()} (a gauge) may read it without the lock. */
    private final Map<Long, Overlaid> overlay = new ConcurrentHashMap<>();
    /** Bodies in the store once every appended and running operation is written (the live figure). */
    private final AtomicLong storedBodies = new AtomicLong();
    /** The figure the last batch taken for writing carries (or recovery read); the hook's and recovery's only. */
    private volatile long storedBodiesWritten;
    /**
     * Under {@link #lock}: the overlay's completion for the operation that holds the lock (by its
     * scope's identity), or null. One field is enough: no second operation changes counts before
     * the holder is appended.
     */
    private BatchWritten operationBatch;

    public BodyRefs(Supplier<Store> store) {
        this.store = store;
    }

    /** A body just put into the open batch; {@link #routed} follows once its entries are in the batch. */
    public void bodyStored() {
        storedBodies.incrementAndGet();
    }

    /**
     * Routing put {@code references} entries (at least one) for the body in the open batch: one
     * count record if more than one (absent means 1).
     */
    public void routed(long messageId, int references, Committer committer) {
        if (references < 1) {
            throw new IllegalArgumentException("message " + messageId + " routed to " + references + " entries");
        }
        if (references >= 2) {
            lock.holdFor(committer); // until this operation is appended: a release of the body cannot come before it
            committer.putOncePerBatch(StoreColumn.REFCOUNTS, Keys.message(messageId), encode(references));
            set(messageId, references, committer);
        }
    }

    /** Recovery: the stored figure ({@link StoreFormat#STORED_BODIES_KEY}). */
    public void restoreStoredBodies(long n) {
        storedBodies.set(n);
        storedBodiesWritten = n;
    }

    public long storedBodies() {
        return storedBodies.get();
    }

    /**
     * A failed operation's writes left the batch: the live body count goes back by what it had
     * counted ({@code putsLessSingleDeletes}: its body puts less its body SingleDeletes).
     */
    public void operationRolledBack(long putsLessSingleDeletes) {
        storedBodies.addAndGet(-putsLessSingleDeletes);
    }

    /**
     * One entry less references the body.
     *
     * @param sole the entry knew it was the body's only reference: no count is read
     * @return true when it was the last: the caller deletes the body in the same batch
     */
    public boolean release(long messageId, boolean sole, Committer committer) {
        if (sole) {
            storedBodies.decrementAndGet();
            return true; // no other entry can reach the body: no count, no lock
        }
        // Held until this operation is appended (strict 2PL): the next release of this body reads
        // the count this one leaves, and is appended after it (see the class comment).
        lock.holdFor(committer);
        int before = count(messageId);
        if (before <= 0) {
            throw new IllegalStateException("no reference to message " + messageId);
        }
        int after = before - 1;
        if (after >= 2) {
            committer.putOncePerBatch(StoreColumn.REFCOUNTS, Keys.message(messageId), encode(after)); // acks of one fan-out in one batch: one write
        } else if (before >= 2) {
            committer.delete(StoreColumn.REFCOUNTS, Keys.message(messageId)); // 1 is stored as no record
        }
        set(messageId, after, committer);
        if (after == 0) {
            storedBodies.decrementAndGet();
        }
        return after == 0;
    }

    /** Under the lock. The current count: the overlay's, else the store's record, else 1 (a stored body with no record). */
    private int count(long messageId) {
        Overlaid o = overlay.get(messageId);
        if (o != null) {
            return o.count;
        }
        STORE_COUNT_READS.increment();
        COUNT_READER_THREADS.add(Thread.currentThread().getName());
        return stored(store.get(), messageId);
    }

    /** Counts read from {@code refcounts} by releases since the JVM started (a test hook). */
    public static long storeCountReads() {
        return STORE_COUNT_READS.sum();
    }

    /** The threads that read a count from the store since the last {@link #forgetCountReaderThreads()} (a test hook). */
    public static java.util.Set<String> countReaderThreads() {
        return java.util.Set.copyOf(COUNT_READER_THREADS);
    }

    public static void forgetCountReaderThreads() {
        COUNT_READER_THREADS.clear();
    }

    /** The count the store holds for a stored body: its record, else 1. */
    static int stored(Store store, long messageId) {
        byte[] v = store.get(StoreColumn.REFCOUNTS, Keys.message(messageId));
        if (v == null) {
            return 1;
        }
        if (v.length != 4) {
            throw new IllegalStateException("reference count of message " + messageId + " has " + v.length + " bytes");
        }
        return ByteBuffer.wrap(v).getInt();
    }

    /** Bodies whose counts changed in batches not written yet (a test hook and a gauge). */
    public int overlaySize() {
        return overlay.size();
    }

    /**
     * After a failed commit or operation the engine rebuilds from the store: nothing unwritten
     * counts. The body count is left as it is: a batch still to be written (the operations that
     * succeeded before a failed one) carries it; recovery then sets it from the store.
     */
    public void clear() {
        lock.lock();
        try {
            overlay.clear();
            operationBatch = null;
        } finally {
            lock.unlock();
        }
    }

    /**
     * The committer takes a batch (under its own lock, not the engine's): it carries the body
     * count if its own writes changed it. Reads only the batch and the figure the last batch
     * carried, never the live figure, which may include an operation not appended yet.
     */
    @Override
    public void append(Committer.Appender batch) {
        int change = batch.putsLessSingleDeletes(StoreColumn.MESSAGES);
        if (change != 0) {
            long now = storedBodiesWritten + change;
            batch.put(StoreColumn.META, StoreFormat.STORED_BODIES_KEY, encodeStoredBodies(now));
            storedBodiesWritten = now;
        }
    }

    /** Under the lock, which the calling operation holds until it is appended. */
    private void set(long messageId, int count, Committer committer) {
        // One completion per operation, appended with its writes: it lands in the batch that holds
        // this change, whichever that is (the committer may take a batch while the operation runs).
        Object scope = committer.currentOperation();
        BatchWritten b = operationBatch;
        if (b == null || scope == null || b.scope != scope) {
            b = new BatchWritten(scope);
            operationBatch = scope == null ? null : b;
            committer.onDurable(b);
        }
        Overlaid o = overlay.get(messageId);
        if (o == null) {
            o = new Overlaid();
            overlay.put(messageId, o);
        }
        o.count = count;
        o.batch = b;
        b.messageIds.add(messageId);
    }

    /** A {@code refcounts} value (stored only where the count is above 1); public for offline store builders. */
    public static byte[] encode(int count) {
        return ByteBuffer.allocate(4).putInt(count).array();
    }

    /** Meta's {@code stored-bodies} value; public for offline store builders. */
    public static byte[] encodeStoredBodies(long bodies) {
        return ByteBuffer.allocate(8).putLong(bodies).array();
    }

    /** A body's newest unwritten count and the batch that holds it. */
    private static final class Overlaid {
        int count;
        BatchWritten batch;
    }

    /** One operation's changes, in the overlay until the batch holding them is written. */
    private final class BatchWritten implements Committer.Completion {
        /** The operation scope whose changes these are (identity only; null: an append outside any scope). */
        final Object scope;
        final List<Long> messageIds = new ArrayList<>();

        BatchWritten(Object scope) {
            this.scope = scope;
        }

        @Override
        public void durable() {
            lock.lock(); // on the completion thread, holding nothing else: a short section, not an operation's hold
            try {
                if (operationBatch == this) {
                    operationBatch = null; // its operation is long over: the next change starts a new one
                }
                for (Long id : messageIds) {
                    Overlaid o = overlay.get(id);
                    if (o != null && o.batch == this) {
                        overlay.remove(id); // a later batch's change keeps its own entry
                    }
                }
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void failed(Throwable cause) {
            // The engine resets: clear() and recovery from the store.
        }
    }
}
