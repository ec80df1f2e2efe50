package io.durablemq.engine.guard;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The state machines of the budget and the heap guard, and how the budget is derived and validated. */
class QueueBudgetTest {
    @Test
    void refusesPastTheBudgetUntilTheQueuesDrainBelowNinetyPercent() {
        QueueBudget b = new QueueBudget(1000);
        assertTrue(b.admit(0, 1000), "up to the budget");
        assertFalse(b.admit(950, 100), "past it");
        assertEquals(QueueBudget.State.REFUSING, b.update(950));
        assertFalse(b.admit(901, 1), "still refusing above 90 %: no flapping on every ack");
        assertEquals(QueueBudget.State.ACCEPTING, b.update(900), "resumes at 90 %");
        assertTrue(b.admit(900, 100));
    }

    @Test
    void oneMessageTooLargeForANearlyEmptyBudgetIsRefusedAlone() {
        QueueBudget b = new QueueBudget(1000);
        assertFalse(b.admit(100, 5000));
        assertTrue(b.admit(100, 10), "the next one that fits is taken");
    }

    @Test
    void heapGuardRefusesAtItsFractionAndResumesTenPointsBelow() {
        // Figures after full collections; young-only ones are confirmed first (HeapGuardTest).
        HeapGuard g = HeapGuard.manual(0.85);
        g.afterCollection(0.80, HeapGuard.Reach.WHOLE_HEAP);
        assertFalse(g.isRefusing());
        g.afterCollection(0.86, HeapGuard.Reach.WHOLE_HEAP);
        assertTrue(g.isRefusing());
        g.afterCollection(0.76, HeapGuard.Reach.WHOLE_HEAP);
        assertTrue(g.isRefusing(), "hysteresis: still refusing at 76 %");
        g.afterCollection(0.74, HeapGuard.Reach.WHOLE_HEAP);
        assertFalse(g.isRefusing());
    }

    @Test
    void autoBudgetIsAQuarterOfTheFreeSpaceAndZeroIsRefusedWithAHint(@TempDir Path dir) throws Exception {
        long free = Files.getFileStore(dir).getUsableSpace();
        long budget = AdmissionSettings.defaults().resolveBudget(dir.resolve("not-yet-created"));
        assertTrue(Math.abs(budget - free / 4) < free / 100 + 1_000_000, budget + " vs free " + free);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new AdmissionSettings(0, 0.85));
        assertTrue(e.getMessage().contains("unlimited"), e.getMessage());
        assertEquals(AdmissionSettings.UNLIMITED, AdmissionSettings.off().resolveBudget(dir));
    }
}
