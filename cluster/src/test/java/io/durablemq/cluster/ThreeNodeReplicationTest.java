package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.SessionSnapshot;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.RecordingListener;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;

import static io.durablemq.cluster.ClusterHarness.await;
import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static io.durablemq.cluster.EngineClients.publish;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three nodes in one JVM (three Ratis servers on loopback ports, three RocksDB stores): the
 * leader's engine commits through Raft; every store holds each acknowledged batch; after the
 * leader is closed another node rebuilds the same engine state from its own store and serves.
 */
@Timeout(120)
class ThreeNodeReplicationTest {
    private static final int MESSAGES = 100;

    @RegisterExtension
    final Clusters clusters = new Clusters();

    @Test
    void acknowledgedBatchesAreOnEveryStoreAndSurviveTheLeader() throws Exception {
        ClusterHarness cluster = clusters.of(3);
        int first = cluster.startAll();
        assertEquals(1, cluster.nodes.stream().filter(n -> n.role() == NodeRole.SERVING).count(), "exactly one node serves");
        Engine leader = cluster.engine(first);

        // A persistent subscriber goes offline; a publisher sends 100 QoS 1 messages, each acknowledged.
        offlineSubscriber(leader, "sub");
        publish(leader, "pub", 0, MESSAGES);
        assertEquals(MESSAGES, leader.session("sub").queuedMessages());
        // The leader applied its own batches from the bytes it submitted (no copy out of the log entry);
        // a follower has no such bytes and copies. Both are checked by the stores' contents below.
        assertTrue(cluster.nodes.get(first).appliedFromOwnBytes() > 0, "the leader applies its own bytes");
        for (int i = 0; i < 3; i++) {
            if (i != first) {
                assertEquals(0, cluster.nodes.get(i).appliedFromOwnBytes(), "node " + (i + 1) + " is a follower");
            }
        }

        // It counted the entries it submitted (docs/CLUSTER.md "Entry size and CPU per message (s22)").
        EntrySizes sizes = cluster.nodes.get(first).entrySizes();
        assertTrue(sizes.entries() > 0 && sizes.operations() >= sizes.entries() && sizes.bytes() > 0, "entry sizes counted");
        assertEquals(sizes.entries(), sizes.atMost(EntrySizes.BUCKETS - 1), "every entry in the histogram");

        // The leader goes away: another node rebuilds the engine from its own replicated store.
        cluster.stop(first);
        int second = cluster.awaitServing();
        assertNotEquals(first, second);
        Engine next = cluster.engine(second);
        SessionSnapshot resumed = next.session("sub");
        assertNotNull(resumed, "the persistent session was replicated");
        assertEquals(MESSAGES, resumed.queuedMessages(), "every acknowledged message is on the new leader");
        RecordingListener again = new RecordingListener();
        SessionHandle sub2 = await(next.connect(new ConnectRequest("sub", false, 3600, 65_535), again));
        sub2.startDelivery();
        for (int i = 0; i < MESSAGES; i++) {
            OutboundPublish p = again.nextPublish();
            assertEquals("m" + i, new String(p.message().payload(), StandardCharsets.UTF_8), "order kept");
            await(sub2.puback(p.packetId()));
        }
        await(sub2.disconnect(-1));

        // Every store, opened on its own as a single node, holds what its node applied.
        cluster.close();
        // No Raft log holds a commit-index metadata entry (RaftNode turns them off: one per commit, a third of all entries).
        for (int i = 0; i < 3; i++) {
            var entries = RaftLogEntries.read(cluster.raft(i));
            assertTrue(entries.size() > 0, "node " + (i + 1) + " has a log");
            assertEquals(0, entries.values().stream().filter(LogEntryProto::hasMetadataEntry).count(),
                    "node " + (i + 1) + ": metadata entries in the log");
        }
        for (int i = 0; i < 3; i++) {
            try (Engine e = Engine.open(EngineService.config(cluster.data(i)), new SimpleMeterRegistry())) {
                SessionSnapshot s = e.session("sub");
                assertNotNull(s, "node " + (i + 1) + " holds the session");
                int expected = i == first ? MESSAGES : 0; // the old leader left before the deliveries
                assertEquals(expected, s.queuedMessages() + s.inflight().size(), "node " + (i + 1));
            }
        }
    }

    /**
     * Applied batches are written without fsync: a store that lost writes its Raft log holds (here: the
     * whole data folder, as after a power cut that kept the fsynced Raft log) is rebuilt by replay.
     */
    @Test
    void aStoreBehindItsRaftLogIsRebuiltByReplay() throws Exception {
        ClusterHarness cluster = clusters.of(3, ClusterHarness.Options.DEFAULT.withDurability(Durability.FSYNC));
        int leader = cluster.startAll();
        Engine engine = cluster.engine(leader);
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, 50);
        int follower = (leader + 1) % 3;
        long leaderApplied = cluster.nodes.get(leader).raftStatus().appliedIndex();
        cluster.stop(follower);
        ClusterHarness.deleteTree(cluster.data(follower));
        cluster.start(follower); // its settings as before, an empty data folder
        cluster.awaitApplied(follower, leaderApplied); // replayed up to the leader's index
        cluster.close();
        try (Engine e = Engine.open(EngineService.config(cluster.data(follower)), new SimpleMeterRegistry())) {
            assertEquals(50, e.session("sub").queuedMessages(), "the rebuilt store holds every acknowledged message");
        }
    }

    @Test
    void aOneNodeGroupCommitsThroughRaftAndAFencedLogRefusesWrites() throws Exception {
        ClusterHarness cluster = clusters.of(1);
        cluster.startAll();
        long before = cluster.nodes.get(0).raftStatus().appliedIndex();
        SessionHandle pub = await(cluster.engine(0).connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        await(pub.publish(1, Message.of("t", new byte[]{1}, 1)));
        assertTrue(cluster.nodes.get(0).raftStatus().appliedIndex() > before, "the acknowledged publish is a Raft entry");

        ReplicatedBatchLog fenced = new ReplicatedBatchLog(null, new StoreSlot(), () -> { }, new EntrySizes());
        fenced.fence();
        try (org.rocksdb.WriteBatch batch = new org.rocksdb.WriteBatch()) {
            assertThrows(ReplicatedBatchLog.NotServingException.class, () -> fenced.write(null, batch));
        }
    }
}
