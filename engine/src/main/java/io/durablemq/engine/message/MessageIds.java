package io.durablemq.engine.message;

import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;

import java.nio.ByteBuffer;

/**
 * Hands out message ids (the keys of {@code messages}) so that none is ever used twice, also
 * after every body with a high id was delivered and deleted. Recovery alone (highest stored body
 * + 1) would hand those ids out again; in a cluster a new leader would then reuse ids that batches
 * in the Raft log already used. So ids are reserved in blocks of {@link #BLOCK}: the stored
 * ceiling ({@link StoreFormat#MESSAGE_ID_CEILING_KEY}) is above every id a written batch used, and
 * recovery starts at the higher of the stored ceiling and the highest stored body + 1.
 *
 * <p><b>Written at the batch's end.</b> The ceiling is not put by the operation that takes an id:
 * an operation that fails is rolled back with all its writes ({@code store.BatchOperation}), and a
 * ceiling put inside it would vanish while the ids it reserved went on being handed out. Instead
 * this class is one of the committer's {@link Committer.LastWrites}: as each batch is taken for
 * writing, if an id at or above the ceiling already written was handed out (by any operation,
 * kept or rolled back), a new ceiling ({@code next + BLOCK}) is appended to that batch. So every
 * batch that uses an id carries, or comes after a batch that carries, a ceiling above it: whatever
 * store holds that batch holds the ceiling too (for a cluster: a leader applies every committed
 * entry before it serves). A batch that fails instead is never written; the engine then rebuilds
 * from the store and {@link #restore}s. Cost: one 8-byte put per {@value #BLOCK} ids and one after
 * each start. Ids are handed out under the engine's lock; the hook runs under the committer's
 * lock (since step 2 of "Towards partitions" not the engine's), hence the atomic {@code next}.
 */
public final class MessageIds implements Committer.LastWrites {
    /** Ids reserved per ceiling write; a restart skips at most this many ids. */
    public static final long BLOCK = 1L << 16;

    /** The next id; handed out under the engine's lock, read by the hook under the committer's (so atomic). */
    private final java.util.concurrent.atomic.AtomicLong next = new java.util.concurrent.atomic.AtomicLong(1);
    /**
     * Ids below it are covered by a ceiling in the store or in a batch already taken for writing.
     * At least 1: id 0 is never handed out. The hook's and recovery's only.
     */
    private volatile long ceilingWritten = 1;

    /** After recovery: continues above {@code afterStoredBodies} (highest stored body + 1) and above the stored ceiling. */
    public void restore(long afterStoredBodies, Store store) {
        long stored = storedCeiling(store);
        next.set(Math.max(1, Math.max(afterStoredBodies, stored)));
        // Ids of stored bodies above the stored ceiling (a store written before the ceiling existed)
        // are not covered: the first batch written appends a ceiling above them.
        ceilingWritten = Math.max(1, stored);
    }

    /** The next id; the ceiling that covers it is appended at the end of the batch (see the class comment). */
    public long next() {
        return next.getAndIncrement();
    }

    /** Every id handed out so far is below this. */
    public long peek() {
        return next.get();
    }

    /**
     * The committer takes a batch: if an id not covered by a written ceiling was handed out since
     * the last batch, the batch gets a new ceiling {@value #BLOCK} ids above the next id.
     */
    @Override
    public void append(Committer.Appender batch) {
        long n = next.get(); // every id handed out before this take is below n, appended to this batch or not yet
        if (n > ceilingWritten) {
            long ceiling = n + BLOCK;
            batch.put(StoreColumn.META, StoreFormat.MESSAGE_ID_CEILING_KEY, ByteBuffer.allocate(8).putLong(ceiling).array());
            ceilingWritten = ceiling;
        }
    }

    /** The stored ceiling, 0 when none (a store written before it existed, or without bodies yet). */
    public static long storedCeiling(Store store) {
        byte[] v = store.get(StoreColumn.META, StoreFormat.MESSAGE_ID_CEILING_KEY);
        if (v == null) {
            return 0;
        }
        if (v.length != 8) {
            throw new IllegalStateException("the message id ceiling in " + store.dir() + " has " + v.length + " bytes, not 8");
        }
        return ByteBuffer.wrap(v).getLong();
    }
}
