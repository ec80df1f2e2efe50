package io.durablemq.cluster;

import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Ratis's log is bounded by the heap ({@link RaftLogHeapBudget}): the arithmetic, and that a real node hands
 * the cache bound to Ratis. (Snapshots by bytes: {@code SnapshotByBytesTest}. The fault both answer, a node
 * restarted into more log than its heap, is shown by the 100-kill soak, docs/CLUSTER.md "Ratis's log and the heap".)
 */
@Timeout(120)
class RaftLogHeapBudgetTest {
    private static final long MB = 1024 * 1024;

    @RegisterExtension
    final Clusters clusters = new Clusters();

    @Test
    void theCacheIsAnEighthOfTheHeapInWholeSegmentsAndTheReplayAQuarter() {
        // The chaos tests' nodes: 256 MB of heap, default 8 MB segments: 32 MB, four closed segments; 64 MB of log.
        assertEquals(new RaftLogHeapBudget(4, 32 * MB, 64 * MB), RaftLogHeapBudget.forHeap(256 * MB, 8 * MB, 0));
        // bin/durablemq's default heap: 64 MB would hold 8 segments; never more than Ratis's own 6.
        assertEquals(new RaftLogHeapBudget(6, 64 * MB, 128 * MB), RaftLogHeapBudget.forHeap(512 * MB, 8 * MB, 0));
        // Segments larger than the share: still one (Ratis needs one), never the 6 that sank the s23 soak.
        assertEquals(new RaftLogHeapBudget(1, 32 * MB, 64 * MB), RaftLogHeapBudget.forHeap(256 * MB, 32 * MB, 0));
        // A policy's own byte bound wins over the heap's.
        assertEquals(new RaftLogHeapBudget(4, 32 * MB, MB), RaftLogHeapBudget.forHeap(256 * MB, 8 * MB, MB));
        assertThrows(IllegalArgumentException.class, () -> new RaftLogHeapBudget(0, MB, MB));
        assertThrows(IllegalArgumentException.class, () -> new SnapshotPolicy(1, 1, 1024, -1));
        assertThrows(IllegalArgumentException.class, () -> new SnapshotPolicy(1, 1, 1024, 0, -1));
    }

    @Test
    void theBudgetBecomesRatisKeys() {
        RaftProperties props = new RaftProperties();
        RaftNode.boundLogCache(props, RaftLogHeapBudget.forHeap(256 * MB, 8 * MB, 0));
        assertEquals(4, RaftServerConfigKeys.Log.segmentCacheNumMax(props));
        assertEquals(32 * MB, RaftServerConfigKeys.Log.segmentCacheSizeMax(props).getSize());
    }

    @Test
    void aNodeGivesRatisTheBudgetOfItsOwnHeap() throws Exception {
        ClusterHarness cluster = clusters.of(1);
        cluster.startAll();
        RaftProperties props = cluster.nodes.get(0).raftNode().server().getProperties();
        long segment = RaftServerConfigKeys.Log.segmentSizeMax(props).getSize();
        assertEquals(SnapshotPolicy.DEFAULT.logSegmentBytes(), segment);
        RaftLogHeapBudget expected = RaftLogHeapBudget.of(SnapshotPolicy.DEFAULT);
        assertEquals(expected.cachedSegments(), RaftServerConfigKeys.Log.segmentCacheNumMax(props));
        assertEquals(expected.cacheBytes(), RaftServerConfigKeys.Log.segmentCacheSizeMax(props).getSize());
        // Whatever the restart loads (the newest closed segments, whole) fits in the share of the heap.
        assertTrue(RaftServerConfigKeys.Log.segmentCacheNumMax(props) * segment
                <= Math.max(segment, Runtime.getRuntime().maxMemory() / RaftLogHeapBudget.CACHE_SHARE));
        // Every snapshot purges, however few entries came since the last purge, but for the last preserved entries.
        assertEquals(1, RaftServerConfigKeys.Log.purgeGap(props));
        assertEquals(SnapshotPolicy.DEFAULT_PRESERVED_ENTRIES, RaftServerConfigKeys.Log.purgePreservationLogNum(props));
    }
}
