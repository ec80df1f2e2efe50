package io.durablemq.engine.store;

/** A commit failed (disk full, I/O error): nothing in it is durable and nothing may be acknowledged. */
public final class StoreWriteException extends RuntimeException {
    public StoreWriteException(String message, Throwable cause) {
        super(message, cause);
    }
}
