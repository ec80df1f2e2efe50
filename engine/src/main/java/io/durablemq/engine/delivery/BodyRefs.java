package io.durablemq.engine.delivery;

import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * How many queue and in-flight entries reference each stored body, kept in the store instead of
 * in memory: a record in {@code refcounts} only where the count is above 1, so a body that one
 * entry references (a message routed to one queue, the common case) costs no record and no
 * write. Every change goes into the open batch with the entry changes that cause it; the last
 * release deletes the body in that batch.
 *
 * <p>A read of a stored count must see the changes of batches not written yet (the open one and
 * the one the committer is writing outside the lock), so each change is also kept in an
 * <em>overlay</em> of absolute counts until its batch is written. Each change is its own
 * {@link Pending}, registered as a completion on the open batch; once that batch is written the
 * store holds the count and the entry leaves the overlay, unless a later change replaced it
 * (then the later one's completion removes it). The overlay thus holds only bodies with writes
 * in unwritten batches: bounded by the commit rate, not by the backlog. Guarded by the engine's
 * lock; completions take it.
 */
public final class BodyRefs {
    private final Object lock;
    private final Supplier<Store> store;
    private final Map<Long, Pending> overlay = new HashMap<>();
    /** Bodies in the store once the open batch is written; the same figure goes into meta's record with each change. */
    private long storedBodies;

    public BodyRefs(Object lock, Supplier<Store> store) {
        this.lock = lock;
        this.store = store;
    }

    /** A body just put into the open batch: no entry references it yet. */
    public void created(long messageId, Committer committer) {
        set(messageId, 0, committer);
        storedBodiesChanged(+1, committer);
    }

    /** Recovery: the stored figure ({@link StoreFormat#STORED_BODIES_KEY}). */
    public void restoreStoredBodies(long n) {
        storedBodies = n;
    }

    public long storedBodies() {
        return storedBodies;
    }

    private void storedBodiesChanged(int delta, Committer committer) {
        storedBodies += delta;
        committer.put(StoreColumn.META, StoreFormat.STORED_BODIES_KEY, encodeStoredBodies(storedBodies));
    }

    /** One more entry references the body. */
    public void increment(long messageId, Committer committer) {
        int before = count(messageId);
        int after = before + 1;
        if (after >= 2) {
            committer.put(StoreColumn.REFCOUNTS, Keys.message(messageId), encode(after));
        }
        set(messageId, after, committer);
    }

    /**
     * One entry less references the body.
     *
     * @return true when it was the last: the caller deletes the body in the same batch
     */
    public boolean release(long messageId, Committer committer) {
        int before = count(messageId);
        if (before <= 0) {
            throw new IllegalStateException("no reference to message " + messageId);
        }
        int after = before - 1;
        if (after >= 2) {
            committer.put(StoreColumn.REFCOUNTS, Keys.message(messageId), encode(after));
        } else if (before >= 2) {
            committer.delete(StoreColumn.REFCOUNTS, Keys.message(messageId)); // 1 is stored as no record
        }
        set(messageId, after, committer);
        if (after == 0) {
            storedBodiesChanged(-1, committer);
        }
        return after == 0;
    }

    /** The current count: the overlay's, else the store's record, else 1 (a stored body with no record). */
    public int count(long messageId) {
        Pending p = overlay.get(messageId);
        if (p != null) {
            return p.count;
        }
        byte[] v = store.get().get(StoreColumn.REFCOUNTS, Keys.message(messageId));
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

    /** After a failed commit the engine rebuilds from the store: nothing unwritten counts. */
    public void clear() {
        overlay.clear();
        storedBodies = 0;
    }

    private void set(long messageId, int count, Committer committer) {
        Pending p = new Pending(messageId, count);
        overlay.put(messageId, p);
        committer.onDurable(p);
    }

    /** A {@code refcounts} value (stored only where the count is above 1); public for offline store builders. */
    public static byte[] encode(int count) {
        return ByteBuffer.allocate(4).putInt(count).array();
    }

    /** Meta's {@code stored-bodies} value; public for offline store builders. */
    public static byte[] encodeStoredBodies(long bodies) {
        return ByteBuffer.allocate(8).putLong(bodies).array();
    }

    /** One change's count, in the overlay until its batch is written. */
    private final class Pending implements Committer.Completion {
        final long messageId;
        final int count;

        Pending(long messageId, int count) {
            this.messageId = messageId;
            this.count = count;
        }

        @Override
        public void durable() {
            synchronized (lock) {
                overlay.remove(messageId, this); // a later change keeps its own entry
            }
        }

        @Override
        public void failed(Throwable cause) {
            // The engine resets: clear() and recovery from the store.
        }
    }
}
