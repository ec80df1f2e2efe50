package io.durablemq.cluster;

import java.nio.file.Path;

/**
 * Decides, for each committed entry Ratis hands to the state machine, whether the store already
 * holds it. The store records the last entry applied to it in the same write as that entry
 * ({@link AppliedEntry}), so after a restart without a newer snapshot Ratis's replay of the log is
 * exact: entries at or below the record are skipped (not written again), the next one is applied,
 * and anything else refuses (recovery never guesses):
 * <ul>
 * <li>the entry at the record's index with another term: the store holds another history than this log;</li>
 * <li>an entry beyond the record's index + 1: the entries in between are missing from the store.</li>
 * </ul>
 * Skipping a range is sound by Raft's log matching: entries with the same index and term are
 * preceded by the same entries, and the entry at the record's index is checked when it arrives.
 */
final class ExactReplay {
    enum Step { SKIP, APPLY }

    private ExactReplay() {
    }

    static Step step(AppliedEntry inStore, long term, long index, Path store) throws ReplayRefusedException {
        if (index <= inStore.index()) {
            if (index == inStore.index() && term != inStore.term()) {
                throw new ReplayRefusedException("the store in " + store + " has applied raft entry " + inStore.index()
                        + " of term " + inStore.term() + ", but this node's log has entry " + index + " of term " + term
                        + " there: the store holds another history than the log");
            }
            return Step.SKIP;
        }
        if (index != inStore.index() + 1) {
            throw new ReplayRefusedException("raft entry " + index + " arrives but the store in " + store
                    + " has applied only up to raft entry " + inStore.index() + ": entries " + (inStore.index() + 1)
                    + " to " + (index - 1) + " are missing from it");
        }
        return Step.APPLY;
    }

    /**
     * At start: a store that has applied more than this node's Raft log and snapshot hold (its Raft
     * folder lost, or restored from an older copy) cannot be explained; the node refuses to start.
     */
    static void refuseAStoreAhead(AppliedEntry inStore, long lastLogIndex, long snapshotIndex, Path store, Path raft)
            throws ReplayRefusedException {
        long explained = Math.max(lastLogIndex, snapshotIndex);
        if (inStore.index() > explained) {
            throw new ReplayRefusedException("the store in " + store + " has applied raft entry " + inStore.index()
                    + " (term " + inStore.term() + ") but this node's Raft log in " + raft + " ends at index " + lastLogIndex
                    + " and its newest snapshot is " + (snapshotIndex < 0 ? "none" : "at index " + snapshotIndex)
                    + ": the store is ahead of its log (Raft folder lost or replaced?). Stop the node and delete its Raft"
                    + " folder and data folder; it then receives a snapshot from the leader");
        }
    }

    /**
     * A store restored from a snapshot (at start, or installed from the leader) must record the
     * snapshot's own index: a snapshot is taken between two applies, at the store's record. None
     * recorded is a snapshot taken before the record existed: it stands for the snapshot's index.
     */
    static void refuseASnapshotThatDisagrees(AppliedEntry recorded, LocalSnapshot snapshot, Path store)
            throws ReplayRefusedException {
        if (recorded != null && recorded.index() != snapshot.index()) {
            throw new ReplayRefusedException("the snapshot " + snapshot.folder() + " is named for raft index " + snapshot.index()
                    + " but the store restored from it into " + store + " has applied raft entry " + recorded.index()
                    + ": the snapshot is not what its name says. Stop the node and delete its Raft folder and data folder;"
                    + " it then receives a snapshot from the leader");
        }
    }

    /** A store and a log that cannot be reconciled: the node does not apply, serve or start. */
    static final class ReplayRefusedException extends java.io.IOException {
        ReplayRefusedException(String message) {
            super(message);
        }
    }
}
