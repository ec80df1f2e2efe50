package io.durablemq.bench.load;

/** A run could not proceed (broker unreachable, subscription refused...). */
public final class LoadRunException extends RuntimeException {
    public LoadRunException(String message, Throwable cause) {
        super(message, cause);
    }
}
