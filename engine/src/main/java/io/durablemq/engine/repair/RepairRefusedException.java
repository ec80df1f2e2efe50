package io.durablemq.engine.repair;

/** Repair will not start (a broker holds the store, no room for the backup, not a store): nothing was changed. */
public final class RepairRefusedException extends Exception {
    public RepairRefusedException(String message) {
        super(message);
    }
}
