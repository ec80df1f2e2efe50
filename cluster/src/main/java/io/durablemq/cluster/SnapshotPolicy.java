package io.durablemq.cluster;

/**
 * When a node snapshots its store and how much it keeps (docs/CLUSTER.md, "Snapshots").
 *
 * @param everyEntries    a snapshot is taken once this many entries were applied since the last one
 *                        ({@code cluster_snapshot_every_entries}); the Raft log is then purged up to it
 * @param retained        how many snapshots a node keeps on disk (the newest ones)
 * @param logSegmentBytes the size at which Ratis closes a log segment; a purge removes only closed
 *                        segments, so this is the granularity at which the log shrinks
 * @param everyBytes      a snapshot is also asked for once this many bytes of entries were applied since
 *                        the last one; 0: a quarter of the heap ({@link RaftLogHeapBudget}, the usual case)
 */
public record SnapshotPolicy(long everyEntries, int retained, long logSegmentBytes, long everyBytes) {
    /** 100,000 batches: a restart replays at most that many, and a snapshot's cost is paid rarely. */
    public static final long DEFAULT_EVERY_ENTRIES = 100_000;
    /** 8 MB segments: the log cache is counted in whole segments (RaftLogHeapBudget), and a purge frees that finely. */
    public static final SnapshotPolicy DEFAULT = new SnapshotPolicy(DEFAULT_EVERY_ENTRIES, 2, 8L * 1024 * 1024, 0);

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
        if (everyBytes < 0) {
            throw new IllegalArgumentException("snapshot every N bytes must not be negative: " + everyBytes);
        }
    }

    /** Snapshots by bytes from the heap's size (everyBytes 0). */
    public SnapshotPolicy(long everyEntries, int retained, long logSegmentBytes) {
        this(everyEntries, retained, logSegmentBytes, 0);
    }

    public SnapshotPolicy withEveryEntries(long n) {
        return new SnapshotPolicy(n, retained, logSegmentBytes, everyBytes);
    }
}
