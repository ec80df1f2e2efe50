package io.durablemq.cluster;

/**
 * When a node snapshots its store and how much it keeps (docs/CLUSTER.md, "Snapshots").
 *
 * @param everyEntries    a snapshot is taken once this many entries were applied since the last one
 *                        ({@code cluster_snapshot_every_entries}); the Raft log is then purged up to it
 * @param retained        how many snapshots a node keeps on disk (the newest ones)
 * @param logSegmentBytes the size at which Ratis closes a log segment; a purge removes only closed
 *                        segments, so this is the granularity at which the log shrinks
 */
public record SnapshotPolicy(long everyEntries, int retained, long logSegmentBytes) {
    /** 100,000 batches: a restart replays at most that many, and a snapshot's cost is paid rarely. */
    public static final long DEFAULT_EVERY_ENTRIES = 100_000;
    public static final SnapshotPolicy DEFAULT = new SnapshotPolicy(DEFAULT_EVERY_ENTRIES, 2, 32L * 1024 * 1024);

    public SnapshotPolicy {
        if (everyEntries < 1) {
            throw new IllegalArgumentException("cluster_snapshot_every_entries must be at least 1: " + everyEntries);
        }
        if (retained < 1) {
            throw new IllegalArgumentException("snapshots retained must be at least 1: " + retained);
        }
        if (logSegmentBytes < 1024) {
            throw new IllegalArgumentException("log segment size must be at least 1 KB: " + logSegmentBytes);
        }
    }

    public SnapshotPolicy withEveryEntries(long n) {
        return new SnapshotPolicy(n, retained, logSegmentBytes);
    }
}
