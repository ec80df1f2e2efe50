package io.durablemq.engine.session;

/** An operation on a handle whose session was taken over, discarded or closed. */
public final class SessionClosedException extends IllegalStateException {
    public SessionClosedException(String clientId, String why) {
        super("session of client '" + clientId + "' is closed for this connection: " + why);
    }
}
