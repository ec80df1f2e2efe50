package io.durablemq.engine;

import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A publish's partition locks ({@link PartitionLocks}, step 4 of the partitioned engine, not yet
 * wired into the engine), with the real subscription index and {@link Targets#prematch}: a
 * subscribe in a partition the publish did not name, landing between its walk and its locks, makes
 * it retry and hold that partition too; a publish that keeps losing that race takes every
 * partition after {@link PartitionLocks#ATTEMPTS} attempts; and publishes locking overlapping sets
 * from several threads never deadlock (ascending order).
 */
class PartitionLockRetryTest {
    private static final int P = 4;
    private static final SubscriptionOptions QOS1 = new SubscriptionOptions(1, false, false, 0, 0);

    @Test
    void placementIsStableAndInRange() {
        for (int i = 0; i < 1_000; i++) {
            int p = PartitionLocks.partitionOf("client-" + i, P);
            assertTrue(p >= 0 && p < P, "partition " + p);
            assertEquals(p, PartitionLocks.partitionOf("client-" + i, P), "same client, same partition");
            assertEquals(0, PartitionLocks.partitionOf("client-" + i, 1), "one partition: always 0");
        }
        int[] used = new int[P];
        for (int i = 0; i < 1_000; i++) {
            used[PartitionLocks.partitionOf("client-" + i, P)]++;
        }
        for (int n : used) {
            assertTrue(n > 100, "client ids spread over the partitions: " + java.util.Arrays.toString(used));
        }
        assertThrows(IllegalArgumentException.class, () -> new PartitionLocks(0));
        assertThrows(IllegalArgumentException.class, () -> new PartitionLocks(65));
    }

    @Test
    @Timeout(30)
    void aSubscribeInAnUnlockedPartitionBetweenWalkAndLocksMakesThePublishRetryAndHoldIt() {
        PartitionLocks locks = new PartitionLocks(P);
        String publisher = clientIn(locks, 0, "pub");
        String early = clientIn(locks, 1, "early");
        String late = clientIn(locks, 3, "late");
        SubscriptionIndex index = new SubscriptionIndex();
        index.add(early, "t", QOS1);
        AtomicReference<Targets.Prematch> walked = new AtomicReference<>();
        AtomicInteger walks = new AtomicInteger();
        try (PartitionLocks.Held held = locks.lockForPublish(locks.partitionOf(publisher),
                () -> {
                    walked.set(Targets.prematch(index, "t"));
                    if (walks.incrementAndGet() == 1) {
                        index.add(late, "t", QOS1); // a subscribe lands after the walk, before the locks
                    }
                    return partitionsOf(locks, walked.get());
                },
                () -> recheck(locks, index, walked.get()))) {
            assertEquals(2, held.attempts, "one retry");
            assertTrue(held.holds(locks.partitionOf(late)), "the late subscriber's partition is held");
            assertTrue(held.holds(locks.partitionOf(early)) && held.holds(locks.partitionOf(publisher)));
            assertFalse(held.holds(2), "a partition no target is in is not held");
        }
    }

    @Test
    @Timeout(30)
    void aPublishThatKeepsLosingTheRaceTakesEveryPartition() {
        PartitionLocks locks = new PartitionLocks(P);
        SubscriptionIndex index = new SubscriptionIndex();
        AtomicReference<Targets.Prematch> walked = new AtomicReference<>();
        AtomicInteger walks = new AtomicInteger();
        try (PartitionLocks.Held held = locks.lockForPublish(0,
                () -> {
                    walked.set(Targets.prematch(index, "t"));
                    int n = walks.incrementAndGet();
                    index.add(clientIn(locks, n % P, "racer" + n), "t", QOS1); // a new target every time
                    return partitionsOf(locks, walked.get());
                },
                () -> recheck(locks, index, walked.get()))) {
            assertEquals(PartitionLocks.ATTEMPTS + 1, held.attempts);
            assertEquals(locks.all(), held.set, "every partition");
        }
    }

    @Test
    @Timeout(60)
    void overlappingPartitionSetsLockedFromSeveralThreadsNeverDeadlock() throws Exception {
        PartitionLocks locks = new PartitionLocks(P);
        long[] sets = {PartitionLocks.bit(0) | PartitionLocks.bit(3), PartitionLocks.bit(3) | PartitionLocks.bit(1),
                PartitionLocks.bit(1) | PartitionLocks.bit(0) | PartitionLocks.bit(2), locks.all()};
        int[] counters = new int[P];
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(sets.length);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (long set : sets) {
                done.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < 20_000; i++) {
                        try (PartitionLocks.Held held = locks.lock(set)) {
                            for (int p = 0; p < P; p++) {
                                if (held.holds(p)) {
                                    counters[p]++; // guarded by partition p's lock
                                }
                            }
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(50, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        for (int p = 0; p < P; p++) {
            int expected = 0;
            for (long set : sets) {
                expected += (set & PartitionLocks.bit(p)) != 0 ? 20_000 : 0;
            }
            assertEquals(expected, counters[p], "updates under partition " + p + "'s lock");
        }
    }

    /** The re-check under the locks: the walk's partitions if the index did not change since, else a new walk's. */
    private static long recheck(PartitionLocks locks, SubscriptionIndex index, Targets.Prematch walked) {
        if (walked.index() == index && walked.version() == index.version()) {
            return partitionsOf(locks, walked);
        }
        return partitionsOf(locks, Targets.prematch(index, walked.topic()));
    }

    private static long partitionsOf(PartitionLocks locks, Targets.Prematch walked) {
        long set = 0;
        for (Targets.Matched m : walked.plain()) {
            set |= PartitionLocks.bit(locks.partitionOf(m.clientId()));
        }
        return set;
    }

    /** A client id (with {@code prefix}) that lives in {@code partition}. */
    private static String clientIn(PartitionLocks locks, int partition, String prefix) {
        for (int i = 0; ; i++) {
            String id = prefix + "-" + i;
            if (locks.partitionOf(id) == partition) {
                return id;
            }
        }
    }
}
