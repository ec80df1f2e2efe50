package io.durablemq.broker.chaos;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Power cuts of a minority: one node's data and Raft folders sit on a LazyFS mount ({@link LazyFs}),
 * the others on the real disk; the {@link ClusterWorkload} clients publish and subscribe throughout.
 * Each round makes the cut node's disk matter, then cuts its power:
 * <ol>
 *   <li>a third node (neither the cut node nor the leader) is SIGKILLed, so every commit from now on
 *       needs the cut node's acknowledgement (or, when the cut node leads, its own log write): it is
 *       in every majority;</li>
 *   <li>after a moment of traffic the cut node is SIGKILLed and LazyFS drops every write it had not
 *       fsynced (a power cut); the remaining node is SIGKILLed with it;</li>
 *   <li>the cut node and the third node start: they are a majority, and what the cluster acknowledged
 *       while the third was down exists only in the cut node's Raft log (and the dead remaining node's).
 *       They elect a leader and serve; then the remaining node starts and rejoins.</li>
 * </ol>
 * Odd rounds cut the node whatever its role (it usually leads: it has the longest log); even rounds
 * cut it as a follower (a leading cut node is first SIGKILLed and rejoins as a follower).
 * In fsync mode the cut node counted towards a majority only what it had fsynced, so nothing
 * acknowledged may be missing: verdict by {@link Ledger} (0 lost, 0 QoS 2 duplicated, order kept).
 *
 * <p>Soak only ({@code -Psoak}); needs root and LazyFS ({@code -Dlazyfs.bin}, see {@link LazyFs#requireBinary()}).
 * {@code -Dcluster.powercut.cuts} rounds (default 5).
 */
@Tag("soak")
class ClusterPowerCutIT {
    private static final long SEED = Long.getLong("chaos.seed", System.nanoTime());
    private static final int CUT = 2; // n3 lives on LazyFS

    private final ClusterWorkload clients = new ClusterWorkload(this::progress);
    private final Ledger ledger = clients.ledger;
    private long t0;

    private void progress(String text) {
        System.out.printf("[cluster-powercut %6.1fs] %s%n", (System.currentTimeMillis() - t0) / 1000.0, text);
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.MINUTES)
    void aMinorityPowerCutLosesNothingAcknowledged() throws Exception {
        int cuts = Integer.getInteger("cluster.powercut.cuts", 5);
        int target = Integer.getInteger("cluster.powercut.target", 2_000);
        Path bin = LazyFs.requireBinary();
        t0 = System.currentTimeMillis();
        Random random = new Random(SEED);
        Path work = ChaosIT.workRoot().resolve("cluster-powercut-" + cuts + "-" + System.currentTimeMillis());
        Files.createDirectories(work);
        List<String> killPoints = new ArrayList<>();
        try (LazyFs fs = LazyFs.mount(bin, work.resolve("lazyfs"));
             ClusterUnderTest cluster = new ClusterUnderTest(BrokerUnderTest.brokerJar(), work, "fsync")) {
            cluster.placeFolders(CUT, fs.mountPoint());
            cluster.startAll();
            int leader = cluster.awaitLeader(180_000);
            assertTrue(leader >= 0, "no leader within 180 s; logs in " + work);
            progress("leader n" + (leader + 1) + " (seed " + SEED + ")");
            clients.createClients(cluster.uri(leader), work.resolve("paho"));
            for (int round = 1; round <= cuts; round++) {
                Thread.sleep(1_000 + random.nextInt(2_000));
                leader = cluster.awaitLeader(120_000);
                assertTrue(leader >= 0, "no leader before round " + round + "; logs in " + work);
                clients.connectAll(cluster.uri(leader));
                if (leader == CUT && round % 2 == 0) {
                    leader = demoteCutNode(cluster, work);
                }
                int third = third(leader);
                int remaining = 3 - CUT - third; // the node that is neither the cut node nor the third
                assertEquals(137, cluster.kill(third), "SIGKILL of the third node");
                int ackedWhileCutNodeNeeded = ledger.acknowledgedCount();
                Thread.sleep(500 + random.nextInt(1_500));
                ackedWhileCutNodeNeeded = ledger.acknowledgedCount() - ackedWhileCutNodeNeeded;
                assertEquals(137, cluster.kill(CUT), "SIGKILL of the cut node");
                assertEquals(137, cluster.kill(remaining), "SIGKILL of the remaining node");
                fs.clearCache(); // the power cut: every write the cut node had not fsynced is gone
                keepRaftLog(fs.mountPoint().resolve("raft"), work.resolve("round-" + round + "-raft-log-after-cut"));
                killPoints.add("round " + round + ": n" + (third + 1) + " killed, power cut of n" + (CUT + 1)
                        + (leader == CUT ? " (the leader)" : "") + " and n" + (remaining + 1) + (leader == remaining
                        ? " (the leader)" : "") + " killed, " + ackedWhileCutNodeNeeded + " acknowledged while n"
                        + (CUT + 1) + " was in every majority");
                cluster.start(CUT);
                cluster.start(third);
                int next = cluster.awaitLeader(180_000);
                assertTrue(next >= 0, "no leader from n" + (CUT + 1) + " and n" + (third + 1) + " after round " + round
                        + "; logs in " + work);
                clients.connectAll(cluster.uri(next));
                cluster.start(remaining);
                int restarted = remaining;
                long applied = cluster.appliedIndex(next);
                boolean rejoined = ClusterWorkload.await(() -> caughtUp(cluster, CUT, applied)
                        && caughtUp(cluster, restarted, applied) && caughtUp(cluster, third, applied), 180_000);
                progress(killPoints.get(killPoints.size() - 1) + "; n" + (next + 1) + " leads; all caught up: " + rejoined
                        + "; acknowledged " + ledger.acknowledgedCount());
                assertTrue(rejoined, "a node did not catch up after round " + round + "; logs in " + work);
            }
            clients.finish(cluster, target);
            Verdict v = ledger.verdict("cluster minority power cuts (fsync)", killPoints.size(), killPoints.size(),
                    System.currentTimeMillis() - t0, List.of(), killPoints);
            String report = v + "confirmed LazyFS cache clears: " + cuts + "\nseed " + SEED + ", work folder " + work + "\n";
            System.out.println(report);
            Files.writeString(ChaosIT.workRoot().resolve("verdicts.txt"), report + "\n", StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
            clients.closeClients();
            List<Integer> exits = cluster.terminateAll();
            assertEquals(List.of(0, 0, 0), exits, "exit statuses after SIGTERM");
            assertTrue(clients.publisherFailures().isEmpty(), "publisher threads failed: " + clients.publisherFailures());
            assertTrue(v.acknowledged() >= target, "acknowledged at least " + target + ":\n" + report);
            assertEquals(0, v.lost(), "acknowledged messages lost:\n" + report);
            assertEquals(0, v.qos2Duplicates(), "QoS 2 messages delivered twice:\n" + report);
            assertEquals(0, v.orderViolations(), "order violations:\n" + report);
            assertEquals(0, v.anomalies(), "anomalies:\n" + report);
        } finally {
            clients.close();
        }
    }

    /**
     * Even rounds cut a follower, so a leading cut node is first SIGKILLed (no power cut), another node
     * takes over, and it rejoins as a follower. Returns the new leader.
     */
    private int demoteCutNode(ClusterUnderTest cluster, Path work) throws Exception {
        assertEquals(137, cluster.kill(CUT), "SIGKILL of the leading cut node");
        int leader = cluster.awaitLeaderOtherThan(CUT, 120_000);
        assertTrue(leader >= 0, "no leader without n" + (CUT + 1) + "; logs in " + work);
        clients.connectAll(cluster.uri(leader));
        cluster.start(CUT);
        long applied = cluster.appliedIndex(leader);
        assertTrue(ClusterWorkload.await(() -> caughtUp(cluster, CUT, applied), 120_000),
                "n" + (CUT + 1) + " did not rejoin as a follower; logs in " + work);
        progress("n" + (CUT + 1) + " led: SIGKILLed and rejoined as a follower, n" + (leader + 1) + " leads");
        return leader;
    }

    /**
     * Copies the cut node's Raft log segments (not its snapshots) as the power cut left them, and prints
     * their names and sizes: if the node then refuses its log, the files it refused are in the work folder.
     */
    private void keepRaftLog(Path raft, Path copy) throws IOException {
        List<String> listing = new ArrayList<>();
        try (Stream<Path> files = Files.walk(raft)) {
            for (Path f : files.filter(Files::isRegularFile).filter(f -> f.getFileName().toString().startsWith("log_")).sorted().toList()) {
                Path to = copy.resolve(raft.relativize(f));
                Files.createDirectories(to.getParent());
                Files.copy(f, to);
                listing.add(f.getFileName() + " " + Files.size(f));
            }
        }
        progress("after the cut, the Raft log of n" + (CUT + 1) + ": " + String.join(", ", listing));
    }

    /** A node that is neither the cut node nor the leader (when the cut node leads, the first other one). */
    private static int third(int leader) {
        for (int i = 0; i < ClusterUnderTest.NODES; i++) {
            if (i != CUT && i != leader) {
                return i;
            }
        }
        throw new IllegalStateException("no third node");
    }

    private static boolean caughtUp(ClusterUnderTest cluster, int node, long applied) {
        return cluster.isAlive(node) && cluster.appliedIndex(node) >= applied;
    }
}
