package io.durablemq.engine.backup;

import java.nio.file.Path;

/** A backup that was refused or failed; nothing usable was left at the target. */
public final class BackupException extends Exception {

    /** Why; the admin endpoint turns it into an HTTP status. */
    public enum Reason {
        /** The target folder already exists (a backup never overwrites anything). */
        TARGET_EXISTS,
        /** The target is inside the live data folder (it would be copied into itself and confuse the store). */
        TARGET_INSIDE_STORE,
        /** The engine is closed, or is returning to its last durable state after a failed write. */
        UNAVAILABLE,
        /** RocksDB or the file system failed while writing the copy. */
        IO_ERROR
    }

    private final Reason reason;
    private final Path target;

    public BackupException(Reason reason, Path target, String message, Throwable cause) {
        super("backup to " + target + " " + (reason == Reason.IO_ERROR ? "failed" : "refused") + ": " + message, cause);
        this.reason = reason;
        this.target = target;
    }

    public Reason reason() {
        return reason;
    }

    public Path target() {
        return target;
    }
}
