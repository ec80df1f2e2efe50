package io.durablemq.cluster;

/**
 * A node's Raft state at one moment.
 *
 * @param role         LEADER, FOLLOWER, CANDIDATE, LISTENER or UNKNOWN
 * @param leader       this node is the leader (it may not know yet that it lost a majority)
 * @param leaderReady  leader and its first entry of this term is committed (so every earlier entry is)
 * @param leaderId     the leader this node knows of, or null
 * @param lastIndex    the last entry in this node's log (committed or not)
 */
public record RaftStatus(String role, boolean leader, boolean leaderReady, String leaderId, long term,
                         long commitIndex, long appliedIndex, long lastIndex) {
    static final RaftStatus UNKNOWN = new RaftStatus("UNKNOWN", false, false, null, -1, -1, -1, -1);

    /** Everything in this node's log is committed and applied to its store: the store is complete. */
    boolean caughtUp() {
        return appliedIndex >= commitIndex && appliedIndex >= lastIndex;
    }
}
