package io.durablemq.cluster;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ExactReplay}'s decision for each entry against the store's record. */
class ExactReplayStepTest {
    private static final Path STORE = Path.of("/data/n1");
    private static final AppliedEntry AT_7 = new AppliedEntry(3, 7);

    @Test
    void entriesTheStoreHoldsAreSkippedAndTheNextIsApplied() throws Exception {
        assertEquals(ExactReplay.Step.SKIP, ExactReplay.step(AT_7, 1, 0, STORE));
        assertEquals(ExactReplay.Step.SKIP, ExactReplay.step(AT_7, 2, 5, STORE));
        assertEquals(ExactReplay.Step.SKIP, ExactReplay.step(AT_7, 3, 7, STORE));
        assertEquals(ExactReplay.Step.APPLY, ExactReplay.step(AT_7, 3, 8, STORE));
        assertEquals(ExactReplay.Step.APPLY, ExactReplay.step(AppliedEntry.NONE, 1, 0, STORE), "an empty store takes entry 0");
    }

    @Test
    void aGapRefusesNamingBothIndexes() {
        ExactReplay.ReplayRefusedException e = assertThrows(ExactReplay.ReplayRefusedException.class,
                () -> ExactReplay.step(AT_7, 3, 9, STORE));
        assertTrue(e.getMessage().contains("raft entry 9 arrives") && e.getMessage().contains("only up to raft entry 7")
                && e.getMessage().contains(STORE.toString()), e.getMessage());
    }

    @Test
    void anotherTermAtTheStoresIndexRefuses() {
        ExactReplay.ReplayRefusedException e = assertThrows(ExactReplay.ReplayRefusedException.class,
                () -> ExactReplay.step(AT_7, 4, 7, STORE));
        assertTrue(e.getMessage().contains("entry 7 of term 3") && e.getMessage().contains("entry 7 of term 4"), e.getMessage());
    }

    @Test
    void aStoreAheadOfLogAndSnapshotRefusesAndOneWithinThemDoesNot() throws Exception {
        ExactReplay.refuseAStoreAhead(AT_7, 7, -1, STORE, Path.of("/raft/n1"));
        ExactReplay.refuseAStoreAhead(AT_7, 2, 7, STORE, Path.of("/raft/n1"));
        ExactReplay.ReplayRefusedException e = assertThrows(ExactReplay.ReplayRefusedException.class,
                () -> ExactReplay.refuseAStoreAhead(AT_7, 5, 4, STORE, Path.of("/raft/n1")));
        assertTrue(e.getMessage().contains("applied raft entry 7") && e.getMessage().contains("ends at index 5")
                && e.getMessage().contains("at index 4"), e.getMessage());
    }
}
