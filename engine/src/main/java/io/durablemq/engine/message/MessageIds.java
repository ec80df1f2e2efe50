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
 * in the Raft log already used. So ids are reserved in blocks of {@link #BLOCK}: the batch that
 * takes the first id of a block also writes the block's end ({@link StoreFormat#MESSAGE_ID_CEILING_KEY}),
 * and recovery starts at the higher of the stored ceiling and the highest stored body + 1. A batch
 * that uses an id is the one that wrote its ceiling or comes after it, so whatever store holds that
 * batch holds the ceiling too (for a cluster: a leader applies every committed entry before it
 * serves). Cost: one 8-byte put per {@value #BLOCK} bodies and one after each start. Guarded by the
 * engine's lock.
 */
public final class MessageIds {
    /** Ids reserved per ceiling write; a restart skips at most this many ids. */
    public static final long BLOCK = 1L << 16;

    private long next = 1;
    /** Ids below it are covered by a ceiling the engine has written (or will write with the batch open now). */
    private long ceiling;

    /** After recovery: continues above {@code afterStoredBodies} (highest stored body + 1) and above the stored ceiling. */
    public void restore(long afterStoredBodies, Store store) {
        long stored = storedCeiling(store);
        next = Math.max(1, Math.max(afterStoredBodies, stored));
        ceiling = stored; // the next id reserves a new block, written in its batch
    }

    /** The next id; reserves a new block first (written into the open batch) when the current one is used up. */
    public long next(Committer committer) {
        if (next >= ceiling) {
            ceiling = next + BLOCK;
            committer.put(StoreColumn.META, StoreFormat.MESSAGE_ID_CEILING_KEY, ByteBuffer.allocate(8).putLong(ceiling).array());
        }
        return next++;
    }

    /** Every id handed out so far is below this. */
    public long peek() {
        return next;
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
