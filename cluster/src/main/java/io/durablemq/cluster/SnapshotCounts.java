package io.durablemq.cluster;

/**
 * A node's snapshot counters since it started.
 *
 * @param taken     snapshots this node took of its own store
 * @param installed snapshots this node received from a leader and loaded
 * @param lastIndex the Raft index of the newest snapshot on this node (taken, installed or found at start); -1 if none
 */
public record SnapshotCounts(long taken, long installed, long lastIndex) {
}
