package io.durablemq.engine.store;

import java.nio.file.Path;

/**
 * The store cannot be opened. The message names the folder and the reason (not a store,
 * newer format, corrupt, locked) so an operator knows what to do; the engine never starts
 * empty instead.
 */
public final class StoreOpenException extends Exception {
    public enum Reason { NOT_A_STORE, NEWER_FORMAT, CORRUPT, IO_ERROR }

    private final Reason reason;

    public StoreOpenException(Reason reason, Path dir, String detail, Throwable cause) {
        super(describe(reason, dir, detail), cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    private static String describe(Reason reason, Path dir, String detail) {
        String what = switch (reason) {
            case NOT_A_STORE -> "is not a DurableMQ store";
            case NEWER_FORMAT -> "was written by a newer DurableMQ (store format too new)";
            case CORRUPT -> "is corrupt";
            case IO_ERROR -> "could not be opened";
        };
        return "data folder " + dir.toAbsolutePath() + " " + what + ": " + detail;
    }
}
