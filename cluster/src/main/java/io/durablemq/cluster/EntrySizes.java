package io.durablemq.cluster;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * How large the Raft entries this node submitted while it led were: entries, RocksDB operations and
 * bytes in total, and a histogram of operations per entry in powers of two. Ratis pays its
 * replication work (client request, appenders, protobuf, log write) per entry and the store per
 * operation, so operations per entry says how far an entry's fixed cost is shared (docs/CLUSTER.md
 * "Entry size and CPU per message (s22)"). Counts only, cheap enough for every submit; kept for the
 * node's life (across leaderships).
 */
public final class EntrySizes {
    /** Bucket i counts entries of at most 2^i operations; the last bucket takes everything larger. */
    public static final int BUCKETS = 17;

    private final LongAdder entries = new LongAdder();
    private final LongAdder operations = new LongAdder();
    private final LongAdder bytes = new LongAdder();
    private final AtomicLongArray buckets = new AtomicLongArray(BUCKETS);

    /** One submitted entry of {@code ops} operations (a WriteBatch's count) and {@code size} bytes. */
    void record(int ops, long size) {
        entries.increment();
        operations.add(ops);
        bytes.add(size);
        buckets.incrementAndGet(bucket(ops));
    }

    /** The bucket of an entry with {@code ops} operations: the smallest i with ops <= 2^i, capped at the last. */
    static int bucket(int ops) {
        int i = ops <= 1 ? 0 : 32 - Integer.numberOfLeadingZeros(ops - 1);
        return Math.min(i, BUCKETS - 1);
    }

    /** Upper bound (operations, inclusive) of bucket {@code i}; the last bucket is unbounded. */
    public static double upperBound(int i) {
        return i == BUCKETS - 1 ? Double.POSITIVE_INFINITY : (double) (1L << i);
    }

    public long entries() {
        return entries.sum();
    }

    public long operations() {
        return operations.sum();
    }

    public long bytes() {
        return bytes.sum();
    }

    /** Entries with at most {@link #upperBound(int) upperBound(i)} operations (cumulative, as a Prometheus histogram's {@code le}). */
    public long atMost(int i) {
        long sum = 0;
        for (int b = 0; b <= i; b++) {
            sum += buckets.get(b);
        }
        return sum;
    }
}
