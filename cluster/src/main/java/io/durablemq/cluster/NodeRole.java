package io.durablemq.cluster;

/** What this node does for clients. */
public enum NodeRole {
    /** Applies committed batches to its own store; answers no MQTT client (redirects them). */
    FOLLOWING,
    /** Leader, hand-over in progress: waiting for its store to be complete, then opening the engine. */
    PROMOTING,
    /** Leader with an open engine: serves MQTT and acknowledges what a majority holds. */
    SERVING,
    /** Lost leadership (or a commit failed): closing the engine and every connection. */
    DEMOTING,
    CLOSED
}
