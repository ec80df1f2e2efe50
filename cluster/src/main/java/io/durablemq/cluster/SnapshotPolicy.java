package io.durablemq.cluster;

/**
 * When a node snapshots its store, how much it keeps, and how far a snapshot purges the Raft log
 * (docs/CLUSTER.md, "Snapshots").
 *
 * @param everyEntries     a snapshot is taken once this many entries were applied since the last one
 *                         ({@code cluster_snapshot_every_entries}); the Raft log is then purged up to it,
 *                         less {@code preservedEntries}
 * @param retained         how many snapshots a node keeps on disk (the newest ones)
 * @param logSegmentBytes  the size at which Ratis closes a log segment; a purge removes only closed
 *                         segments, so this is the granularity at which the log shrinks
 * @param everyBytes       a snapshot is also asked for once this many bytes of entries were applied since
 *                         the last one; 0: a quarter of the heap ({@link RaftLogHeapBudget}, the usual case)
 * @param preservedEntries a purge stops this many entries before the log's last index, even when the snapshot
 *                         is newer ({@code cluster_log_preserved_entries}); 0: it purges up to the snapshot
 */
public record SnapshotPolicy(long everyEntries, int retained, long logSegmentBytes, long everyBytes, long preservedEntries) {
    /** 100,000 batches: a restart replays at most that many, and a snapshot's cost is paid rarely. */
    public static final long DEFAULT_EVERY_ENTRIES = 100_000;
    /**
     * 1,000 entries: about 7-18 s of log at full load on the development machine (55-140 entries a second), so a
     * follower down a few seconds finds its next entries still in the leader's log (a SIGKILL plus restart at full
     * load took longer there and still installed: docs/CLUSTER.md "Snapshots"); the cost is that many entries on disk.
     */
    public static final long DEFAULT_PRESERVED_ENTRIES = 1_000;
    /** 8 MB segments: the log cache is counted in whole segments (RaftLogHeapBudget), and a purge frees that finely. */
    public static final SnapshotPolicy DEFAULT = new SnapshotPolicy(DEFAULT_EVERY_ENTRIES, 2, 8L * 1024 * 1024, 0,
            DEFAULT_PRESERVED_ENTRIES);

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
        if (preservedEntries < 0) {
            throw new IllegalArgumentException("cluster_log_preserved_entries must not be negative: " + preservedEntries);
        }
    }

    /** The default log preservation. */
    public SnapshotPolicy(long everyEntries, int retained, long logSegmentBytes, long everyBytes) {
        this(everyEntries, retained, logSegmentBytes, everyBytes, DEFAULT_PRESERVED_ENTRIES);
    }

    /** Snapshots by bytes from the heap's size (everyBytes 0), the default log preservation. */
    public SnapshotPolicy(long everyEntries, int retained, long logSegmentBytes) {
        this(everyEntries, retained, logSegmentBytes, 0);
    }

    public SnapshotPolicy withEveryEntries(long n) {
        return new SnapshotPolicy(n, retained, logSegmentBytes, everyBytes, preservedEntries);
    }

    public SnapshotPolicy withPreservedEntries(long n) {
        return new SnapshotPolicy(everyEntries, retained, logSegmentBytes, everyBytes, n);
    }
}
