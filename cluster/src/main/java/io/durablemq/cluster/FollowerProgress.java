package io.durablemq.cluster;

/**
 * The leader's view of one follower, as Ratis keeps it for replication.
 *
 * @param id                the follower's node id
 * @param matchIndex        the last log index the leader knows this follower holds (-1: none confirmed yet)
 * @param lastContactMillis milliseconds since the follower last answered the leader
 */
public record FollowerProgress(String id, long matchIndex, long lastContactMillis) {
    /** Entries committed by the group that this follower is not known to hold. */
    public long lag(long commitIndex) {
        return Math.max(0, commitIndex - matchIndex);
    }
}
