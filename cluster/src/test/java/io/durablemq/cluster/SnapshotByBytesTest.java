package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.store.StoreColumn;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.Map;

import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static io.durablemq.cluster.EngineClients.publish;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Snapshots asked for by the log's bytes ({@link LogBytesSnapshotTrigger}), not only by its entry count: with
 * Ratis's trigger set far out of reach (a million entries), every node still snapshots and purges its log once
 * the entries applied since its last snapshot reach the byte bound, and a restarted node replays only the log
 * after that. Three real Ratis servers on loopback, real RocksDB stores.
 */
@Timeout(240)
class SnapshotByBytesTest {
    /**
     * Entries alone would never snapshot here; 16 KB of applied batches do (a QoS 1 publish's batch is some 100 bytes).
     * A purge keeps the last 100 entries: fewer than the 400 published first (so every log purges), more than the 20
     * published while a follower is down (so it catches up by the log; LogPreservationTest shows the purge move then).
     */
    private static final ClusterHarness.Options BY_BYTES =
            ClusterHarness.Options.DEFAULT.withSnapshots(new SnapshotPolicy(1_000_000, 2, 4 * 1024, 16 * 1024, 100));

    @RegisterExtension
    final Clusters clusters = new Clusters();

    @Test
    void everyNodeSnapshotsAndPurgesByBytesAndARestartReplaysOnlyTheTail() throws Exception {
        ClusterHarness cluster = clusters.of(3, BY_BYTES);
        cluster.startAll();
        int leader = cluster.awaitServing();
        Engine engine = cluster.services.get(leader).engine();
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, 400);

        for (int i = 0; i < 3; i++) {
            ClusterNode n = cluster.nodes.get(i);
            assertTrue(ClusterHarness.await(() -> n.snapshots().taken() >= 2 && n.raftLogStartIndex() > 0, 30_000),
                    "node " + i + " snapshotted by bytes and purged its log: " + n.snapshots() + ", log starts at "
                            + n.raftLogStartIndex() + ", " + n.snapshotRequestsByBytes() + " requests");
            assertTrue(n.snapshotRequestsByBytes() >= 2, "by bytes, not by entries: " + n.snapshotRequestsByBytes());
        }

        int follower = (leader + 1) % 3;
        cluster.stop(follower);
        publish(engine, "pub", 400, 420);
        ClusterNode restarted = cluster.start(follower);
        long snapshotIndex = restarted.snapshots().lastIndex();
        assertTrue(snapshotIndex > 0, "restarted from its own snapshot: " + restarted.snapshots());
        long last = cluster.nodes.get(leader).raftStatus().lastIndex();
        assertTrue(ClusterHarness.await(() -> restarted.raftStatus().appliedIndex() >= last, 30_000),
                "the restarted follower caught up: " + restarted.raftStatus());
        // By replaying the log after its own snapshot, its own and then the leader's: a snapshot by bytes on the
        // leader meanwhile (a CI run before s26 saw one purge past it, and an install) keeps the last 100 entries.
        assertEquals(0, restarted.snapshots().installed(), "caught up by the log tail, not the leader's snapshot: "
                + restarted.snapshots());
        publish(engine, "pub", 420, 425);
        long lastAfter = cluster.nodes.get(leader).raftStatus().lastIndex();
        assertTrue(ClusterHarness.await(() -> restarted.raftStatus().appliedIndex() >= lastAfter, 30_000),
                "the restarted follower applies what follows: " + restarted.raftStatus());
        assertTrue(restarted.raftLogStartIndex() > 0, "its log is still purged: starts at " + restarted.raftLogStartIndex()
                + " (" + restarted.snapshots() + ")");

        cluster.stop(follower);
        cluster.close();
        Map<StoreColumn, String> leaderStore = ClusterHarness.scan(cluster.data(leader));
        assertEquals(leaderStore, ClusterHarness.scan(cluster.data(follower)), "the follower's store equals the leader's");
        try (Engine e = Engine.open(EngineService.config(cluster.data(follower)), new SimpleMeterRegistry())) {
            assertEquals(425, e.session("sub").queuedMessages(), "nothing lost across snapshots, purges and the restart");
        }
    }
}
