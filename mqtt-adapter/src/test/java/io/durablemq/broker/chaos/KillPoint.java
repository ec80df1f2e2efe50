package io.durablemq.broker.chaos;

/** Where in the traffic the harness kills the broker. */
enum KillPoint {
    /** After a random pause, whatever is in flight. */
    RANDOM,
    /** While the publishers have many messages in flight: the committer is batching (group commit). */
    UNDER_LOAD,
    /** A QoS 2 publisher got PUBREC and has not sent PUBREL. */
    AFTER_PUBREC,
    /** A QoS 2 PUBLISH was written and its PUBREC not awaited. */
    AFTER_PUBLISH,
    /** A subscriber holds back PUBACK / PUBREC / PUBCOMP for PUBLISHes and PUBRELs the broker sent. */
    OUTBOUND_UNACKED,
    /** A subscriber that was offline is draining its backlog. */
    OFFLINE_DRAIN
}
