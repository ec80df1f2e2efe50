package io.durablemq.engine.store;

/**
 * A commit failed (disk full, I/O error, an internal fault). Nothing in it may be acknowledged,
 * but its outcome is unknown: the write may have reached the WAL before the error (an fsync
 * that fails after the append), and the engine's reset replays the WAL. A caller must therefore
 * never tell a client "not stored, publish again": it closes the connection unacknowledged and
 * lets the client's resend (same packet id) meet whatever the store really holds.
 */
public final class StoreWriteException extends RuntimeException {
    public StoreWriteException(String message, Throwable cause) {
        super(message, cause);
    }
}
