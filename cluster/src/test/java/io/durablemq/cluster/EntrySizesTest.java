package io.durablemq.cluster;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The histogram of operations per Raft entry: powers-of-two buckets, cumulative counts, totals. */
class EntrySizesTest {
    @Test
    void eachEntryFallsInTheSmallestPowerOfTwoBucketThatHoldsIt() {
        assertEquals(0, EntrySizes.bucket(0));
        assertEquals(0, EntrySizes.bucket(1));
        assertEquals(1, EntrySizes.bucket(2));
        assertEquals(2, EntrySizes.bucket(3));
        assertEquals(2, EntrySizes.bucket(4));
        assertEquals(3, EntrySizes.bucket(5));
        assertEquals(10, EntrySizes.bucket(1024));
        assertEquals(11, EntrySizes.bucket(1025));
        assertEquals(EntrySizes.BUCKETS - 1, EntrySizes.bucket(1 << 16), "the last bucket takes the rest");
        assertEquals(EntrySizes.BUCKETS - 1, EntrySizes.bucket(Integer.MAX_VALUE));
        assertEquals(Double.POSITIVE_INFINITY, EntrySizes.upperBound(EntrySizes.BUCKETS - 1));
        assertEquals(1024.0, EntrySizes.upperBound(10));
    }

    @Test
    void countsAreCumulativeAndTotalsAddUp() {
        EntrySizes sizes = new EntrySizes();
        sizes.record(1, 100);
        sizes.record(3, 300);
        sizes.record(4, 400);
        sizes.record(100_000, 5_000_000);
        assertEquals(4, sizes.entries());
        assertEquals(100_008, sizes.operations());
        assertEquals(5_000_800, sizes.bytes());
        assertEquals(1, sizes.atMost(0));
        assertEquals(1, sizes.atMost(1));
        assertEquals(3, sizes.atMost(2), "3 and 4 operations: at most 4");
        assertEquals(3, sizes.atMost(EntrySizes.BUCKETS - 2));
        assertEquals(4, sizes.atMost(EntrySizes.BUCKETS - 1));
    }
}
