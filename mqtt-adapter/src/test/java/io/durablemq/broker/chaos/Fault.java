package io.durablemq.broker.chaos;

/**
 * What a {@link ChaosRun} does to the broker's machine at each kill point. The plain chaos soak
 * only SIGKILLs the broker ({@link #SIGKILL}): the kernel's page cache survives, so unsynced writes
 * reach the disk anyway. A power cut ({@link PowerCut}) also drops every write that was not fsynced.
 */
interface Fault {
    /** Kill the broker process only; its unsynced writes survive in the kernel's page cache. */
    Fault SIGKILL = new Fault() {
        @Override
        public String toString() {
            return "SIGKILL";
        }
    };

    /**
     * Called while the broker still runs, after the harness reached the kill point; may damage
     * the file system (e.g. tear the next write). Returns a note for the kill label ("" for none).
     */
    default String beforeKill(BrokerUnderTest broker) throws Exception {
        return "";
    }

    /**
     * True when the broker may already have died by itself at the kill (its file system went
     * away), so its exit status is not necessarily 137.
     */
    default boolean brokerMayDieFirst() {
        return false;
    }

    /**
     * Called when the broker refused to start after a kill (a store it would not open; its log
     * says why): true if the fault repaired the store, so the harness starts the broker once more;
     * false ends the run at the refusal.
     */
    default boolean repairRefusedStart(BrokerUnderTest broker) throws Exception {
        return false;
    }

    /**
     * Called when a restarted broker is alive but never started listening (it hangs on its file
     * system): true if the fault cut power once more (killed the broker and the file system
     * under it, remounted), so the harness starts the broker again; false fails the run.
     */
    default boolean recoverHungStart(BrokerUnderTest broker) throws Exception {
        return false;
    }

    /** Called once the broker process is gone, before it restarts on the same data folder. */
    default void afterKill() throws Exception {
    }
}
