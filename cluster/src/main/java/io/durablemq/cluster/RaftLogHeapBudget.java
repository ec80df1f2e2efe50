package io.durablemq.cluster;

/**
 * How much of the heap Ratis's log may take (docs/CLUSTER.md "Ratis's log and the heap"). Two things put
 * log entries on the heap:
 * <ul>
 *   <li>the cache ({@code SegmentedRaftLogCache}): the open segment's entries and up to
 *       {@code cachedSegments} closed segments'. Ratis's defaults (6 segments or 200 MB) ignore the heap,
 *       and a restart loads the newest 6 closed segments whatever their size;</li>
 *   <li>a replay: after a restart Ratis reads every entry after the newest snapshot, a whole segment at
 *       a time, and may evict nothing until its log worker closes a new segment (its evictable index starts
 *       at the snapshot's index). So everything logged since the last snapshot can be on the heap at once:
 *       in the s23 100-kill soak (1.5 million messages, no snapshot by entry count) a node restarted late in
 *       the run on a 256 MB heap and never rejoined,
 *       and a follower restarted idle into 987 MB of log died of OutOfMemoryError.</li>
 * </ul>
 * So the cache holds at most {@link #CACHE_SHARE} of the heap in whole segments, and a snapshot is asked
 * for whenever the entries applied since the last one reach {@link #REPLAY_SHARE} of the heap
 * ({@link LogBytesSnapshotTrigger}): the log after the newest snapshot, which is what a replay reads, stays
 * about that size, whatever {@code cluster_snapshot_every_entries} says.
 *
 * @param cachedSegments     closed segments whose entries Ratis keeps ({@code raft.server.log.segment.cache.num.max})
 * @param cacheBytes         bytes of entries Ratis keeps before it evicts ({@code raft.server.log.segment.cache.size.max})
 * @param snapshotEveryBytes a snapshot is asked for once this many bytes of entries were applied since the last one
 */
record RaftLogHeapBudget(int cachedSegments, long cacheBytes, long snapshotEveryBytes) {
    /** The cache: an eighth of the heap; the engine's image and the MQTT side's buffers need most of the rest. */
    static final int CACHE_SHARE = 8;
    /** The log a replay reads: a quarter of the heap (it is read while the cache still holds its share). */
    static final int REPLAY_SHARE = 4;
    /** Ratis's own default: more closed segments than this are never worth keeping. */
    static final int MAX_CACHED_SEGMENTS = 6;

    RaftLogHeapBudget {
        if (cachedSegments < 1 || cacheBytes < 1 || snapshotEveryBytes < 1) {
            throw new IllegalArgumentException("a Raft log budget needs at least one segment and one byte: "
                    + cachedSegments + " segments, " + cacheBytes + " bytes, snapshot every " + snapshotEveryBytes + " bytes");
        }
    }

    /**
     * The budget for a heap of {@code maxHeapBytes} ({@link Runtime#maxMemory()}) and log segments of
     * {@code segmentBytes}: at least one closed segment (Ratis needs one), else as many as fit in the share;
     * snapshots every {@code snapshotEveryBytes} when above 0, else every {@link #REPLAY_SHARE}th of the heap.
     */
    static RaftLogHeapBudget forHeap(long maxHeapBytes, long segmentBytes, long snapshotEveryBytes) {
        long cache = Math.max(1, maxHeapBytes / CACHE_SHARE);
        int segments = (int) Math.max(1, Math.min(MAX_CACHED_SEGMENTS, cache / Math.max(1, segmentBytes)));
        long replay = snapshotEveryBytes > 0 ? snapshotEveryBytes : Math.max(1, maxHeapBytes / REPLAY_SHARE);
        return new RaftLogHeapBudget(segments, cache, replay);
    }

    /** This JVM's budget for a node snapshotting by {@code policy}. */
    static RaftLogHeapBudget of(SnapshotPolicy policy) {
        return forHeap(Runtime.getRuntime().maxMemory(), policy.logSegmentBytes(), policy.everyBytes());
    }
}
