package io.durablemq.engine;

import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A publish walks the subscription index before it takes the engine's lock
 * ({@link Targets#prematch}); under the lock the walk is used only if the index did not change
 * meanwhile. These tests prove the result under the lock is always what a walk under the lock
 * would give: after a subscribe, an unsubscribe, a reset's new index, and with a writer changing
 * the index while other threads walk it.
 */
class TargetsPrematchTest {

    private static final SubscriptionOptions QOS1 = new SubscriptionOptions(1, false, false, 0, 0);
    private static final SubscriptionOptions QOS2_NO_LOCAL = new SubscriptionOptions(2, true, false, 0, 7);

    private final SubscriptionIndex index = new SubscriptionIndex();
    private final Map<String, EngineSession> sessions = new HashMap<>();

    private EngineSession session(String id) {
        return sessions.computeIfAbsent(id, EngineSession::new);
    }

    private static Set<String> ids(Map<EngineSession, Targets.Target> targets) {
        Set<String> out = new TreeSet<>();
        targets.keySet().forEach(s -> out.add(s.clientId));
        return out;
    }

    @Test
    void unchangedIndexGivesTheSameTargetsAsAWalkUnderTheLock() {
        session("a");
        session("b");
        index.add("a", "t/+", QOS1);
        index.add("a", "t/x", QOS2_NO_LOCAL);
        index.add("b", "t/#", QOS1);
        index.add("gone", "t/x", QOS1); // no session: no target, as in the walk under the lock

        Targets.Prematch pre = Targets.prematch(index, "t/x");
        Map<EngineSession, Targets.Target> fromPre = Targets.match(pre, index, sessions, "t/x", "b");
        Map<EngineSession, Targets.Target> walked = Targets.match(index, sessions, "t/x", "b");

        assertEquals(Set.of("a", "b"), ids(fromPre));
        assertEquals(ids(walked), ids(fromPre));
        Targets.Target a = fromPre.get(sessions.get("a"));
        assertEquals(2, a.maxQos, "highest QoS of the session's matching subscriptions");
        assertEquals(java.util.List.of(7), a.subscriptionIds);
        // no-local: the publisher's own no-local subscription is skipped, its other one still counts
        Map<EngineSession, Targets.Target> own = Targets.match(Targets.prematch(index, "t/x"), index, sessions, "t/x", "a");
        assertEquals(Set.of("a", "b"), ids(own));
        assertEquals(1, own.get(sessions.get("a")).maxQos, "only t/+ (QoS 1) counts for a's own publish");
        assertEquals(1, Targets.match(index, sessions, "t/x", "a").get(sessions.get("a")).maxQos);
    }

    @Test
    void aSubscribeAfterTheWalkIsSeenUnderTheLock() {
        session("a");
        session("late");
        index.add("a", "t/x", QOS1);
        Targets.Prematch pre = Targets.prematch(index, "t/x");

        index.add("late", "t/+", QOS1); // under the lock, between the walk and the publish's critical section

        assertNotEquals(pre.version(), index.version());
        assertEquals(Set.of("a", "late"), ids(Targets.match(pre, index, sessions, "t/x", null)));
    }

    @Test
    void anUnsubscribeAfterTheWalkIsSeenUnderTheLock() {
        session("a");
        session("b");
        index.add("a", "t/x", QOS1);
        index.add("b", "t/x", QOS1);
        Targets.Prematch pre = Targets.prematch(index, "t/x");

        index.remove("b", "t/x");

        assertEquals(Set.of("a"), ids(Targets.match(pre, index, sessions, "t/x", null)));
    }

    @Test
    void aWalkOfAReplacedIndexOrAnotherTopicIsNotUsed() {
        session("a");
        index.add("a", "t/x", QOS1);
        Targets.Prematch pre = Targets.prematch(index, "t/x");

        SubscriptionIndex rebuilt = new SubscriptionIndex(); // a reset's new image: same version count, other index
        assertTrue(Targets.match(pre, rebuilt, sessions, "t/x", null).isEmpty());
        assertTrue(Targets.match(pre, index, sessions, "t/y", null).isEmpty());
    }

    @Test
    void sharedGroupsAreChosenUnderTheLock() {
        session("m1");
        session("m2");
        index.add("m1", "$share/g/t/x", QOS1);
        index.add("m2", "$share/g/t/x", QOS1);
        Targets.Prematch pre = Targets.prematch(index, "t/x");

        assertTrue(pre.sharedGroups());
        assertTrue(pre.plain().isEmpty());
        // Round robin: two publishes go to the two members, one each (the cursor moves under the lock only).
        Set<String> chosen = new TreeSet<>();
        chosen.addAll(ids(Targets.match(pre, index, sessions, "t/x", null)));
        chosen.addAll(ids(Targets.match(Targets.prematch(index, "t/x"), index, sessions, "t/x", null)));
        assertEquals(Set.of("m1", "m2"), chosen);
    }

    /**
     * One writer changing the index under a lock (as subscribes do under the engine's), readers
     * walking it without the lock and then checking under it: no walk fails, and every result
     * taken under the lock equals a walk there.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void walksOutsideTheLockRacingAWriterAreUsedOnlyWhenExact() throws Exception {
        Object mutex = new Object();
        for (int i = 0; i < 32; i++) {
            session("s" + i);
        }
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        long writerDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        Thread writer = new Thread(() -> {
            try {
                // At least 20,000 changes, and on until the readers have walked 4,000 times (a loaded CI
                // machine once ran all 20,000 before a reader was scheduled, so nothing raced); a short
                // pause every 64 changes leaves stable moments in which a walk outside the lock is used.
                for (int round = 0; round < 20_000 || (reads.get() < 4_000 && System.nanoTime() < writerDeadline); round++) {
                    if (round % 64 == 0) {
                        java.util.concurrent.locks.LockSupport.parkNanos(20_000);
                    }
                    String who = "s" + (round % 32);
                    String filter = (round % 3 == 0) ? "r/+/c" : (round % 3 == 1 ? "r/b/#" : "r/b/c");
                    synchronized (mutex) {
                        if (round % 2 == 0) {
                            index.add(who, filter, QOS1);
                        } else {
                            index.remove("s" + ((round + 7) % 32), filter);
                        }
                    }
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            } finally {
                stop.set(true);
            }
        }, "index-writer");
        int[] usedPrematch = new int[1];
        Runnable reader = () -> {
            try {
                while (!stop.get()) {
                    Targets.Prematch pre = Targets.prematch(index, "r/b/c");
                    synchronized (mutex) {
                        Set<String> got = ids(Targets.match(pre, index, sessions, "r/b/c", null));
                        Set<String> walked = ids(Targets.match(index, sessions, "r/b/c", null));
                        assertEquals(walked, got);
                        if (pre.version() == index.version()) {
                            usedPrematch[0]++;
                        }
                        reads.incrementAndGet();
                    }
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        };
        Thread r1 = new Thread(reader, "index-reader-1");
        Thread r2 = new Thread(reader, "index-reader-2");
        writer.start();
        r1.start();
        r2.start();
        writer.join();
        r1.join();
        r2.join();
        assertNull(failure.get(), () -> "a walk failed or differed: " + failure.get());
        assertTrue(usedPrematch[0] > 0, "some walks outside the lock were used (the case this test is about)");
    }
}
