package io.durablemq.cluster;

/**
 * Since a node started: committed entries its state machine wrote to the store, and entries it
 * skipped because the store already held them (a replay after a restart without a newer snapshot).
 */
public record ReplayCounts(long written, long skipped) {
}
