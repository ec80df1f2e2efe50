package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.SessionSnapshot;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

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

    @TempDir
    Path tmp;
    private final List<ClusterNode> nodes = new ArrayList<>();
    private final List<EngineService> services = new ArrayList<>();

    @AfterEach
    void closeAll() {
        nodes.forEach(ClusterNode::close);
    }

    @Test
    void acknowledgedBatchesAreOnEveryStoreAndSurviveTheLeader() throws Exception {
        List<Peer> peers = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            peers.add(new Peer("n" + i, "127.0.0.1", freePort(), null));
        }
        for (int i = 1; i <= 3; i++) {
            ClusterSettings settings = new ClusterSettings("n" + i, peers, tmp.resolve("raft" + i), Durability.OS,
                    Duration.ofMillis(1000));
            EngineService service = new EngineService(tmp.resolve("data" + i));
            services.add(service);
            nodes.add(ClusterNode.start(settings, tmp.resolve("data" + i), service));
        }
        int first = awaitServing(-1);
        assertEquals(1, nodes.stream().filter(n -> n.role() == NodeRole.SERVING).count(), "exactly one node serves");
        Engine leader = services.get(first).engine();

        // A persistent subscriber goes offline; a publisher sends 100 QoS 1 messages, each acknowledged.
        RecordingListener subEvents = new RecordingListener();
        SessionHandle sub = await(leader.connect(new ConnectRequest("sub", false, 3600, 65_535), subEvents));
        await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
        await(sub.disconnect(-1));
        SessionHandle pub = await(leader.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        for (int i = 0; i < MESSAGES; i++) {
            await(pub.publish(i % 65_000 + 1, Message.of("t/x", ("m" + i).getBytes(StandardCharsets.UTF_8), 1)));
        }
        assertEquals(MESSAGES, leader.session("sub").queuedMessages());

        // The leader goes away: another node rebuilds the engine from its own replicated store.
        nodes.get(first).close();
        int second = awaitServing(first);
        assertNotEquals(first, second);
        Engine next = services.get(second).engine();
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
        for (ClusterNode n : nodes) {
            n.close();
        }
        for (int i = 0; i < 3; i++) {
            try (Engine e = Engine.open(EngineService.config(tmp.resolve("data" + (i + 1))), new SimpleMeterRegistry())) {
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
        List<Peer> peers = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            peers.add(new Peer("n" + i, "127.0.0.1", freePort(), null));
        }
        List<ClusterSettings> settings = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            settings.add(new ClusterSettings("n" + i, peers, tmp.resolve("raft" + i), Durability.FSYNC, Duration.ofMillis(1000)));
            EngineService service = new EngineService(tmp.resolve("data" + i));
            services.add(service);
            nodes.add(ClusterNode.start(settings.get(i - 1), tmp.resolve("data" + i), service));
        }
        int leader = awaitServing(-1);
        Engine engine = services.get(leader).engine();
        SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 65_535), new RecordingListener()));
        await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
        await(sub.disconnect(-1));
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        for (int i = 0; i < 50; i++) {
            await(pub.publish(i + 1, Message.of("t/x", new byte[] {(byte) i}, 1)));
        }
        int follower = (leader + 1) % 3;
        long leaderApplied = nodes.get(leader).raftStatus().appliedIndex();
        nodes.get(follower).close();
        deleteTree(tmp.resolve("data" + (follower + 1)));
        EngineService fresh = new EngineService(tmp.resolve("data" + (follower + 1)));
        services.set(follower, fresh);
        nodes.set(follower, ClusterNode.start(settings.get(follower), tmp.resolve("data" + (follower + 1)), fresh));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (nodes.get(follower).raftStatus().appliedIndex() < leaderApplied && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertTrue(nodes.get(follower).raftStatus().appliedIndex() >= leaderApplied, "replayed up to the leader's index");
        for (ClusterNode n : nodes) {
            n.close();
        }
        try (Engine e = Engine.open(EngineService.config(tmp.resolve("data" + (follower + 1))), new SimpleMeterRegistry())) {
            assertEquals(50, e.session("sub").queuedMessages(), "the rebuilt store holds every acknowledged message");
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = java.nio.file.Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                java.nio.file.Files.delete(p);
            }
        }
    }

    @Test
    void aOneNodeGroupCommitsThroughRaftAndAFencedLogRefusesWrites() throws Exception {
        List<Peer> peers = List.of(new Peer("solo", "127.0.0.1", freePort(), null));
        ClusterSettings settings = new ClusterSettings("solo", peers, tmp.resolve("raft"), Durability.OS, Duration.ofMillis(1000));
        EngineService service = new EngineService(tmp.resolve("data"));
        services.add(service);
        nodes.add(ClusterNode.start(settings, tmp.resolve("data"), service));
        awaitServing(-1);
        long before = nodes.get(0).raftStatus().appliedIndex();
        SessionHandle pub = await(service.engine().connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        await(pub.publish(1, Message.of("t", new byte[]{1}, 1)));
        assertTrue(nodes.get(0).raftStatus().appliedIndex() > before, "the acknowledged publish is a Raft entry");

        ReplicatedBatchLog fenced = new ReplicatedBatchLog(null, new StoreSlot(), () -> { });
        fenced.fence();
        try (org.rocksdb.WriteBatch batch = new org.rocksdb.WriteBatch()) {
            assertThrows(ReplicatedBatchLog.NotServingException.class, () -> fenced.write(null, batch));
        }
    }

    /** Waits (bounded) until a node other than {@code not} serves; returns its index. */
    private int awaitServing(int not) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < nodes.size(); i++) {
                if (i != not && nodes.get(i).role() == NodeRole.SERVING) {
                    return i;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no node serves within 60 s");
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(20, TimeUnit.SECONDS);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
