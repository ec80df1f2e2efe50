package io.durablemq.engine.guard;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.durablemq.engine.guard.HeapGuard.Reach.WHOLE_HEAP;
import static io.durablemq.engine.guard.HeapGuard.Reach.YOUNG_ONLY;
import static io.durablemq.engine.guard.HeapGuard.State.ACCEPTING;
import static io.durablemq.engine.guard.HeapGuard.State.REFUSING;
import static io.durablemq.engine.guard.HeapGuard.State.SUSPECT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The heap guard's state machine with readings fed by hand on a clock the test moves: a
 * young-only figure at or above the guard refuses only once a whole-heap figure confirms it or it
 * stays there for the confirmation window; and, once, with the JVM's own notifications.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HeapGuardTest {
    private static final long S = 1_000_000_000L;

    /** Where the real-notification test's garbage escapes to. */
    private static volatile Object escape;

    private final AtomicLong clock = new AtomicLong(1_000 * S);
    private final AtomicInteger requested = new AtomicInteger();
    private final HeapGuard guard = HeapGuard.manual(0.85, clock::get, requested::incrementAndGet);

    private void after(long seconds) {
        clock.addAndGet(seconds * S);
    }

    @Test
    void aHighYoungOnlyReadingFollowedByALowFullCollectionDoesNotRefuse() {
        guard.afterCollection(0.57, YOUNG_ONLY);
        guard.afterCollection(0.90, YOUNG_ONLY); // old garbage not marked yet counts as used
        assertEquals(SUSPECT, guard.state());
        assertFalse(guard.isRefusing(), "a young-only figure alone does not refuse");
        guard.tick();
        assertEquals(1, requested.get(), "the guard asks for a whole-heap collection");
        after(1);
        guard.afterCollection(0.14, WHOLE_HEAP); // what is live
        assertEquals(ACCEPTING, guard.state());
        after(60);
        guard.tick();
        assertFalse(guard.isRefusing(), "the suspicion is over: the window passing refuses nothing");
        assertEquals(0.14, guard.lastRatio());
    }

    @Test
    void aHighReadingAfterAFullCollectionRefusesAtOnce() {
        guard.afterCollection(0.86, WHOLE_HEAP);
        assertEquals(REFUSING, guard.state());
        assertTrue(guard.isRefusing());
    }

    @Test
    void aHighYoungOnlyReadingConfirmedByAFullCollectionRefuses() {
        guard.afterCollection(0.92, YOUNG_ONLY);
        guard.tick();
        assertEquals(1, requested.get());
        guard.afterCollection(0.88, WHOLE_HEAP);
        assertTrue(guard.isRefusing(), "live data at or above the guard");
    }

    @Test
    void withNoFullCollectionAYoungOnlyReadingStillHighAfterTheWindowRefuses() {
        // Explicit collections disabled or concurrent: the requested collection brings no whole-heap figure.
        guard.afterCollection(0.90, YOUNG_ONLY);
        guard.tick();
        after(5);
        guard.afterCollection(0.91, YOUNG_ONLY);
        assertEquals(SUSPECT, guard.state(), "within the window");
        after(5);
        guard.afterCollection(0.90, YOUNG_ONLY);
        assertEquals(REFUSING, guard.state(), "at or above the guard for the whole window: a real shortage");
    }

    @Test
    void anIdleBrokerWithNoFurtherCollectionRefusesWhenTheWindowEnds() {
        guard.afterCollection(0.90, YOUNG_ONLY);
        after(9);
        guard.tick();
        assertEquals(SUSPECT, guard.state());
        after(1);
        guard.tick();
        assertEquals(REFUSING, guard.state(), "the window is a bound, readings or not");
    }

    @Test
    void aYoungOnlyReadingBelowTheGuardClearsTheSuspicion() {
        guard.afterCollection(0.90, YOUNG_ONLY);
        after(3);
        guard.afterCollection(0.60, YOUNG_ONLY); // mixed collections reclaimed the old garbage
        assertEquals(ACCEPTING, guard.state());
        after(30);
        guard.tick();
        assertEquals(ACCEPTING, guard.state());
    }

    @Test
    void refusesUntilAReadingTenPointsBelowTheGuardOfEitherKind() {
        guard.afterCollection(0.80, WHOLE_HEAP);
        assertFalse(guard.isRefusing());
        guard.afterCollection(0.86, WHOLE_HEAP);
        assertTrue(guard.isRefusing());
        guard.afterCollection(0.76, WHOLE_HEAP);
        assertTrue(guard.isRefusing(), "hysteresis: still refusing at 76 %");
        guard.afterCollection(0.80, YOUNG_ONLY);
        assertTrue(guard.isRefusing());
        guard.afterCollection(0.74, YOUNG_ONLY); // a figure with garbage in it bounds the live data from above
        assertFalse(guard.isRefusing());
        assertEquals(ACCEPTING, guard.state());
    }

    @Test
    void collectionsAreAskedForAtMostOnceEvery30SecondsAndWhileRefusingWithoutAFullFigure() {
        guard.afterCollection(0.90, YOUNG_ONLY);
        guard.tick();
        assertEquals(1, requested.get());
        after(1);
        guard.afterCollection(0.60, YOUNG_ONLY);
        after(1);
        guard.afterCollection(0.90, YOUNG_ONLY); // suspect again 2 s after the request
        guard.tick();
        assertEquals(1, requested.get(), "no second full collection within 30 s");
        after(10);
        guard.tick();
        assertEquals(REFUSING, guard.state(), "the window still bounds it");
        after(18); // 30 s since the request and since the guard saw a whole-heap figure (never)
        guard.tick();
        assertEquals(2, requested.get(), "refusing with no whole-heap figure for 30 s: asks for one");
        after(1);
        guard.tick();
        assertEquals(2, requested.get());
        guard.afterCollection(0.30, WHOLE_HEAP);
        assertEquals(ACCEPTING, guard.state());
        after(60);
        guard.tick();
        assertEquals(2, requested.get(), "accepting: nothing asked for");
    }

    @Test
    void whileRefusingAfterAFullCollectionTheNextRequestWaitsThirtySecondsForIt() {
        guard.afterCollection(0.95, WHOLE_HEAP);
        after(29);
        guard.tick();
        assertEquals(0, requested.get(), "a whole-heap figure 29 s old is fresh enough");
        after(1);
        guard.tick();
        assertEquals(1, requested.get());
    }

    @Test
    void onlyAMajorCollectionCountsAsReachingTheWholeHeap() {
        assertEquals(WHOLE_HEAP, HeapGuard.reachOf("end of major GC"));
        assertEquals(YOUNG_ONLY, HeapGuard.reachOf("end of minor GC"));
        assertEquals(YOUNG_ONLY, HeapGuard.reachOf("end of GC cycle"));
    }

    /**
     * The JVM's own notifications: with a guard far below any heap, young collections (garbage
     * allocated until one happens) leave it suspecting but accepting; a full collection refuses.
     */
    @Test
    void onRealNotificationsAYoungCollectionSuspectsAndAFullOneRefuses() throws InterruptedException {
        try (HeapGuard real = HeapGuard.start(1e-9)) {
            long deadline = System.nanoTime() + 20 * S;
            while (Double.isNaN(real.lastRatio())) {
                if (System.nanoTime() > deadline) {
                    fail("no garbage collection notification within 20 s");
                }
                for (int i = 0; i < 1_000; i++) {
                    escape = new byte[1024]; // garbage the JIT cannot elide: fills the young generation
                }
            }
            assertEquals(SUSPECT, real.state(), "a young collection's figure alone does not refuse");
            while (!real.isRefusing()) {
                if (System.nanoTime() > deadline) {
                    fail("a full collection did not refuse within 20 s: " + real.state());
                }
                System.gc();
                Thread.sleep(50);
            }
        }
    }
}
