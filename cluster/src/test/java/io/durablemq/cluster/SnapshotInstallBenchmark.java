package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import static io.durablemq.cluster.ClusterHarness.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Measures how long a new node takes to receive and load a snapshot of a store holding many
 * queued messages (issue 13's figure: 1,000,000). Not part of the default build (it takes minutes):
 *
 * <pre>mvn -B -o -pl cluster -am test -Dtest=SnapshotInstallBenchmark -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dsnapshot.bench=true [-Dsnapshot.bench.sessions=1000] [-Dsnapshot.bench.perSession=1000] [-Dsnapshot.bench.payload=256]
 *     [-Dsnapshot.bench.everyEntries=2000]</pre>
 *
 * A one-node group is filled through its engine ({@code sessions} offline persistent sessions,
 * each with {@code perSession} QoS 1 messages of {@code payload} random bytes on its own topic, so every
 * message has its own body), snapshots itself and purges its log; then a second, empty node is
 * added (Ratis membership change) and must catch up by the snapshot. Measured: from the add to
 * the newcomer having applied everything the leader had, and the snapshot's size. Then the
 * newcomer's store is opened as an engine and every queued message is counted.
 */
@EnabledIfSystemProperty(named = "snapshot.bench", matches = "true")
@Timeout(3600)
class SnapshotInstallBenchmark {
    private static final int SESSIONS = Integer.getInteger("snapshot.bench.sessions", 1000);
    private static final int PER_SESSION = Integer.getInteger("snapshot.bench.perSession", 1000);
    private static final int PAYLOAD = Integer.getInteger("snapshot.bench.payload", 256);
    private static final int WINDOW = 2000;

    @Test
    void installTimeOfALargeStore() throws Exception {
        Path tmp = Path.of(System.getProperty("snapshot.bench.dir", "target/snapshot-bench"));
        SnapshotStorage.deleteTree(tmp);
        Files.createDirectories(tmp);
        // No preserved entries: the leader's log starts after its snapshot as soon as it takes one, as before the setting.
        SnapshotPolicy policy = new SnapshotPolicy(Long.getLong("snapshot.bench.everyEntries", 2_000), 2, 8L * 1024 * 1024)
                .withPreservedEntries(0);
        Peer p1 = new Peer("n1", "127.0.0.1", ClusterHarness.freePort(), null);
        Peer p2 = new Peer("n2", "127.0.0.1", ClusterHarness.freePort(), null);
        EngineService s1 = new EngineService(tmp.resolve("data1"));
        EngineService s2 = new EngineService(tmp.resolve("data2"));
        ClusterNode n1 = ClusterNode.start(new ClusterSettings("n1", List.of(p1), tmp.resolve("raft1"), Durability.OS,
                Duration.ofMillis(1000), policy), tmp.resolve("data1"), s1);
        ClusterNode n2 = null;
        try {
            assertTrue(ClusterHarness.await(() -> n1.role() == NodeRole.SERVING, 60_000), "n1 serves");
            long fillStart = System.nanoTime();
            fill(s1.engine());
            double fillSeconds = (System.nanoTime() - fillStart) / 1e9;
            long total = (long) SESSIONS * PER_SESSION;
            System.out.printf("filled %,d queued messages (%d sessions x %d, %d B payload) in %.1f s%n",
                    total, SESSIONS, PER_SESSION, PAYLOAD, fillSeconds);
            // A snapshot after the fill and a purged log: the newcomer cannot be served from the log. Entries
            // are commit batches (many messages each); a few small commits more (to a sink session) reach the next snapshot.
            long filledAt = n1.raftStatus().appliedIndex();
            System.out.println("fill ended at raft index " + filledAt);
            SessionHandle sink = await(s1.engine().connect(new ConnectRequest("sink", false, 0xFFFF_FFFFL, 65_535), new RecordingListener()));
            await(sink.subscribe(List.of(Subscription.of("more/#", 1))));
            await(sink.disconnect(-1));
            SessionHandle more = await(s1.engine().connect(new ConnectRequest("more", true, 0, 65_535), new RecordingListener()));
            for (int i = 0; i < 10 * policy.everyEntries() && (n1.snapshots().lastIndex() < filledAt || n1.raftLogStartIndex() <= 0); i++) {
                await(more.publish(i % 65_000 + 1, Message.of("more/x", new byte[] {1}, 1)));
            }
            assertTrue(n1.snapshots().lastIndex() >= filledAt && n1.raftLogStartIndex() > 0,
                    "n1 snapshotted after the fill and purged: " + n1.snapshots());
            LocalSnapshot snap = SnapshotStorage.readLatest(SnapshotStorage.folderOf(tmp.resolve("raft1")));

            n2 = ClusterNode.start(new ClusterSettings("n2", List.of(p1, p2), tmp.resolve("raft2"), Durability.OS,
                    Duration.ofMillis(1000), policy), tmp.resolve("data2"), s2);
            long target = n1.raftStatus().lastIndex();
            long t0 = System.nanoTime();
            Membership.add(List.of(p1), p2);
            ClusterNode newcomer = n2;
            assertTrue(ClusterHarness.await(() -> newcomer.raftStatus().appliedIndex() >= target, 1_800_000),
                    "n2 caught up: " + newcomer.raftStatus());
            double installSeconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(newcomer.snapshots().installed() >= 1, "by a snapshot: " + newcomer.snapshots());
            String line = String.format("snapshot install: %,d queued messages, snapshot %s (%d files, %,d bytes), "
                            + "add-to-caught-up %.1f s (fill %.1f s)", total, snap.folder().getFileName(),
                    snap.manifest().files().size(), snap.manifest().totalBytes(), installSeconds, fillSeconds);
            System.out.println(line);
            Files.writeString(tmp.resolve("result.txt"), line + System.lineSeparator());

            n2.close();
            n2 = null;
            long counted = 0;
            try (Engine e = Engine.open(EngineService.config(tmp.resolve("data2")), new SimpleMeterRegistry())) {
                for (int i = 0; i < SESSIONS; i++) {
                    counted += e.session("s" + i).queuedMessages();
                }
            }
            assertEquals(total, counted, "every queued message is in the newcomer's store");
        } finally {
            if (n2 != null) {
                n2.close();
            }
            n1.close();
        }
    }

    private static void fill(Engine engine) throws Exception {
        for (int i = 0; i < SESSIONS; i++) {
            SessionHandle sub = await(engine.connect(new ConnectRequest("s" + i, false, 0xFFFF_FFFFL, 65_535), new RecordingListener()));
            await(sub.subscribe(List.of(Subscription.of("q/" + i, 1))));
            await(sub.disconnect(-1));
        }
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        Semaphore window = new Semaphore(WINDOW);
        List<CompletableFuture<?>> failures = new ArrayList<>();
        java.util.SplittableRandom random = new java.util.SplittableRandom(13);
        long n = 0;
        for (int m = 0; m < PER_SESSION; m++) {
            for (int i = 0; i < SESSIONS; i++) {
                window.acquire();
                byte[] payload = new byte[PAYLOAD]; // random: RocksDB cannot compress it away
                random.nextBytes(payload);
                CompletableFuture<?> f = pub.publish((int) (n++ % 65_000) + 1, Message.of("q/" + i, payload, 1));
                f.whenComplete((r, e) -> {
                    if (e != null) {
                        synchronized (failures) {
                            failures.add(f);
                        }
                    }
                    window.release();
                });
            }
        }
        assertTrue(window.tryAcquire(WINDOW, 300, TimeUnit.SECONDS), "every publish acknowledged");
        assertEquals(List.of(), failures, "no publish failed");
    }
}
