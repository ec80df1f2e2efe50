package io.durablemq.broker.security.scram;

/** A SCRAM message that cannot be accepted; the message says what is wrong (never a secret). */
public final class ScramException extends Exception {
    public ScramException(String message) {
        super(message);
    }
}
