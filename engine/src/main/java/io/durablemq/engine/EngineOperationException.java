package io.durablemq.engine;

/**
 * An engine operation failed inside the engine (a bug, or an error such as OutOfMemoryError):
 * none of its writes were committed (the commit batch took them back out), and the engine is
 * returning to its last durable state. For a publish the client was not acknowledged; it
 * resends after reconnecting and the message is routed then, once.
 */
public final class EngineOperationException extends RuntimeException {
    public EngineOperationException(String operation, Throwable cause) {
        super(operation + " failed inside the engine and was not stored (" + cause
                + "); the engine returns to its last durable state", cause);
    }
}
