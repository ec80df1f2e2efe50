package io.durablemq.cluster;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** When {@link LogBytesSnapshotTrigger} asks for a snapshot: at the bound, again a bound later if none came, anew after one. */
class LogBytesSnapshotTriggerTest {
    private final AtomicInteger asked = new AtomicInteger();
    private final LogBytesSnapshotTrigger trigger = new LogBytesSnapshotTrigger(1000, asked::incrementAndGet);

    @Test
    void asksOnceTheBoundIsReachedAndAgainABoundLaterIfNoSnapshotCame() {
        trigger.applied(600);
        assertEquals(0, asked.get());
        trigger.applied(400); // 1000: reached
        assertEquals(1, asked.get());
        trigger.applied(999); // the snapshot is on its way: not asked again meanwhile
        assertEquals(1, asked.get());
        trigger.applied(1); // 2000 and still none (a hand-over, a replay still skipping): asked again
        assertEquals(2, asked.get());
        assertEquals(2000, trigger.sinceSnapshot());
        assertEquals(2, trigger.requests());
    }

    @Test
    void aSnapshotStartsTheCountAgain() {
        trigger.applied(1500);
        assertEquals(1, asked.get());
        trigger.snapshotTaken();
        assertEquals(0, trigger.sinceSnapshot());
        trigger.applied(999);
        assertEquals(1, asked.get());
        trigger.applied(1);
        assertEquals(2, asked.get());
    }

    @Test
    void oneLargeEntryAsksOnce() {
        trigger.applied(5000);
        assertEquals(1, asked.get());
        trigger.applied(1);
        assertEquals(1, asked.get());
    }

    @Test
    void aBoundBelowOneByteIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new LogBytesSnapshotTrigger(0, () -> { }));
    }
}
