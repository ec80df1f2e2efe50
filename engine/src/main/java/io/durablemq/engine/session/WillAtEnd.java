package io.durablemq.engine.session;

/** What the end of a connection does to the will stored with its session. */
public enum WillAtEnd {
    /** A normal DISCONNECT (reason 0x00): the will is deleted in the disconnect's commit. */
    DELETE,
    /**
     * The connection was lost, closed for a protocol error, or ended by DISCONNECT 0x04: its end
     * time is stored, and the will is sent min(will delay, session expiry) after it.
     */
    DUE,
    /**
     * The broker is stopping: no end time is stored, so after the restart the will counts from
     * the recovery time, exactly as after a crash; a client that reconnects within its will
     * delay after the restart cancels it. (The broker's stop is not the client's failure.)
     */
    UNTIL_RESTART
}
