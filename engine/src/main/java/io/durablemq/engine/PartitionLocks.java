package io.durablemq.engine;

import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * The partitioned engine's partition locks (engine/README.md, "The partitioned engine: design",
 * step 4). A session lives in partition {@link #partitionOf}; an operation locks the partitions it
 * touches, always in ascending order (the first rank of the lock order, before every narrow lock),
 * as a bit set of at most 64 partitions, and unlocks them when its writes are appended.
 *
 * <p>A publish does not know its targets' partitions before it holds them: it walks the index
 * first ({@code Targets.prematch}), locks the publisher's partition and the targets', then
 * re-checks under them ({@link #lockForPublish}): if a subscribe changed the index meanwhile and a
 * target now falls in a partition it does not hold, it releases everything (it changed nothing yet)
 * and starts again; after {@link #ATTEMPTS} attempts it takes every partition, which is always
 * enough.
 */
final class PartitionLocks {
    /** Attempts with the partitions the walk named before a publish takes them all. */
    static final int ATTEMPTS = 3;
    static final int MAX_PARTITIONS = 64;

    private final ReentrantLock[] locks;

    PartitionLocks(int partitions) {
        if (partitions < 1 || partitions > MAX_PARTITIONS) {
            throw new IllegalArgumentException("engine_partitions must be 1 to " + MAX_PARTITIONS + ": " + partitions);
        }
        locks = new ReentrantLock[partitions];
        for (int i = 0; i < partitions; i++) {
            locks[i] = new ReentrantLock();
        }
    }

    int count() {
        return locks.length;
    }

    ReentrantLock lockOf(int partition) {
        return locks[partition];
    }

    /**
     * The partition of a client id among {@code partitions}: in memory only (keys stay as they
     * are), so the count may change between starts and recovery places each session by the same
     * hash. The hash is mixed so that client ids differing only in their last characters spread.
     */
    static int partitionOf(String clientId, int partitions) {
        int h = clientId.hashCode();
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        return Math.floorMod(h, partitions);
    }

    int partitionOf(String clientId) {
        return partitionOf(clientId, locks.length);
    }

    /** The bit of one partition in a set. */
    static long bit(int partition) {
        return 1L << partition;
    }

    long all() {
        return locks.length == MAX_PARTITIONS ? -1L : bit(locks.length) - 1;
    }

    /** Locks the partitions of {@code set}, ascending; {@link Held#close()} unlocks them. */
    Held lock(long set) {
        long wanted = set & all();
        long taken = 0;
        try {
            for (long rest = wanted; rest != 0; rest &= rest - 1) {
                int p = Long.numberOfTrailingZeros(rest); // lowest first: ascending
                locks[p].lock();
                taken |= bit(p);
            }
        } catch (RuntimeException | Error e) {
            unlock(taken);
            throw e;
        }
        return new Held(taken, 1);
    }

    /** Every partition, ascending: close, reset, recovery, statistics. */
    Held lockAll() {
        return lock(all());
    }

    /**
     * A publish's locks. {@code walk}: before any lock, the partitions of the targets the index
     * walk found (a shared group: all its members' partitions). {@code recheck}: under the locks,
     * the partitions its targets need now (the walk's if the index is at the walk's version, else a
     * new walk's). Returns the held set once it covers the publisher's partition and every target's.
     */
    Held lockForPublish(int publisherPartition, LongSupplier walk, LongSupplier recheck) {
        return lockForPublish(bit(publisherPartition), walk, recheck);
    }

    /** As {@link #lockForPublish(int, LongSupplier, LongSupplier)}, with {@code base} the partitions always held. */
    Held lockForPublish(long base, LongSupplier walk, LongSupplier recheck) {
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            long wanted = base | walk.getAsLong();
            Held held = lock(wanted);
            long needed = base | recheck.getAsLong();
            if ((needed & ~held.set) == 0) {
                return new Held(held.set, attempt);
            }
            held.close(); // nothing was changed or recorded yet: start again with a new walk
        }
        Held all = lockAll();
        return new Held(all.set, ATTEMPTS + 1);
    }

    /** True when the calling thread holds every partition (P = 1: whenever it holds one). */
    boolean holdsAll() {
        for (ReentrantLock l : locks) {
            if (!l.isHeldByCurrentThread()) {
                return false;
            }
        }
        return true;
    }

    private void unlock(long set) {
        for (int p = MAX_PARTITIONS - 1; p >= 0; p--) {
            if ((set & bit(p)) != 0) {
                locks[p].unlock();
            }
        }
    }

    /**
     * Partitions held by the calling thread, unlocked (descending) by {@link #close()}.
     *
     * @param attempts how many attempts the publish needed ({@link #ATTEMPTS} + 1: it took all)
     */
    final class Held implements AutoCloseable {
        final long set;
        final int attempts;
        private boolean closed;

        private Held(long set, int attempts) {
            this.set = set;
            this.attempts = attempts;
        }

        boolean holds(int partition) {
            return (set & bit(partition)) != 0;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                unlock(set);
            }
        }
    }
}
