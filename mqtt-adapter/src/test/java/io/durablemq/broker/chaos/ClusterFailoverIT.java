package io.durablemq.broker.chaos;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A three-node cluster of broker processes under durable Paho publishers (QoS 1 and 2) and
 * subscribers (one goes offline so its queue fills): the serving leader is SIGKILLed at random
 * moments, restarted at once as a follower, the clients reconnect to whichever node serves.
 * Then the leader is paused (SIGSTOP) past the election timeout while its clients keep publishing
 * to it, and resumed once another node leads: whatever it acknowledged must be delivered, and it
 * must step down. Then a follower is killed, its data and Raft folders deleted, and restarted: it must catch up
 * (its applied index reaches the leader's) while the traffic goes on. Verdict by {@link Ledger}:
 * 0 acknowledged lost, 0 QoS 2 duplicates, order per publisher kept. Figures: failover time from
 * the kill to the first acknowledgement after it.
 *
 * <p>Soak only ({@code -Psoak}) until it has a record of stable runs: see docs/CLUSTER.md.
 */
@Tag("soak")
class ClusterFailoverIT {
    private static final long SEED = Long.getLong("chaos.seed", System.nanoTime());
    private static final int WINDOW = 40;
    private static final int MAX_LAG = 3_000;

    @Test
    @Timeout(value = 30, unit = TimeUnit.MINUTES)
    void leaderSigkillUnderLoadLosesNothing() throws Exception {
        run("fsync", Integer.getInteger("cluster.kills", 10), Integer.getInteger("cluster.target", 2_000));
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.HOURS)
    void soakLeaderSigkill() throws Exception {
        run("fsync", Integer.getInteger("cluster.soak.kills", 100), Integer.getInteger("cluster.soak.target", 20_000));
    }

    private final Ledger ledger = new Ledger();
    private final List<PahoPublisher> publishers = new ArrayList<>();
    private final List<PahoSubscriber> subscribers = new ArrayList<>();
    private final ExecutorService connector = Executors.newFixedThreadPool(4);
    private final List<Long> failoverMillis = new ArrayList<>();
    private long t0;

    private void progress(String text) {
        System.out.printf("[cluster %6.1fs] %s%n", (System.currentTimeMillis() - t0) / 1000.0, text);
    }

    private void run(String durability, int kills, int target) throws Exception {
        t0 = System.currentTimeMillis();
        Random random = new Random(SEED);
        Path work = ChaosIT.workRoot().resolve("cluster-" + durability + "-" + kills + "-" + System.currentTimeMillis());
        Files.createDirectories(work);
        List<String> killPoints = new ArrayList<>();
        try (ClusterUnderTest cluster = new ClusterUnderTest(BrokerUnderTest.brokerJar(), work, durability)) {
            cluster.startAll();
            int leader = cluster.awaitLeader(180_000);
            assertTrue(leader >= 0, "no leader within 180 s; logs in " + work);
            progress("leader n" + (leader + 1));
            createClients(cluster.uri(leader), work.resolve("paho"));
            PahoSubscriber drain = subscribers.get(2);
            for (int k = 0; k < kills; k++) {
                long ms = 500 + random.nextInt(1_500);
                Thread.sleep(ms);
                if (k % 3 == 1 && drain.wantOnline) {
                    drain.goOffline(); // its queue fills across the next failovers
                } else if (!drain.wantOnline && k % 3 == 0) {
                    drain.wantOnline = true;
                }
                int ackedBefore = ledger.acknowledgedCount();
                long killedAt = System.currentTimeMillis();
                int status = cluster.kill(leader);
                assertEquals(137, status, "exit status after SIGKILL");
                killPoints.add("n" + (leader + 1) + " after " + ms + " ms (acknowledged " + ackedBefore + ")");
                cluster.start(leader); // comes back as a follower
                int next = cluster.awaitLeader(120_000);
                assertTrue(next >= 0, "no new leader within 120 s after kill " + (k + 1) + "; logs in " + work);
                connectAll(cluster.uri(next));
                int ackedAtKill = ledger.acknowledgedCount();
                if (await(() -> ledger.acknowledgedCount() > ackedAtKill, 30_000)) {
                    failoverMillis.add(System.currentTimeMillis() - killedAt);
                }
                progress("kill " + (k + 1) + "/" + kills + ": n" + (leader + 1) + " -> n" + (next + 1) + ", acknowledged "
                        + ledger.acknowledgedCount() + ", failover to first ack " + last(failoverMillis) + " ms");
                leader = next;
            }

            // The leader is paused past the election timeout while its clients keep publishing to it; a new
            // leader takes over; the old one resumes: whatever it acknowledges must be in the new leader's log
            // (the ledger checks every acknowledged message is delivered), and it stops serving.
            int paused = leader;
            cluster.signal(paused, "STOP");
            long pausedAt = System.currentTimeMillis();
            int successor = cluster.awaitLeaderOtherThan(paused, 120_000);
            assertTrue(successor >= 0, "no leader while n" + (paused + 1) + " is stopped; logs in " + work);
            Thread.sleep(1_000);
            cluster.signal(paused, "CONT");
            boolean steppedDown = await(() -> cluster.status(paused).contains("role FOLLOWING"), 60_000);
            progress("SIGSTOP n" + (paused + 1) + " for " + (System.currentTimeMillis() - pausedAt) + " ms: n"
                    + (successor + 1) + " leads; the old leader follows again: " + steppedDown);
            assertTrue(steppedDown, "the paused leader did not step down after SIGCONT");
            killPoints.add("SIGSTOP n" + (paused + 1));
            connectAll(cluster.uri(successor));
            leader = successor;

            // A follower loses its disk: it comes back empty and catches up from the leader's log.
            int follower = (leader + 1) % ClusterUnderTest.NODES;
            assertEquals(137, cluster.kill(follower));
            cluster.wipe(follower);
            cluster.start(follower);
            int theLeader = leader;
            boolean caughtUp = await(() -> cluster.appliedIndex(follower) >= 0
                    && cluster.appliedIndex(follower) >= cluster.appliedIndex(theLeader) - 5, 180_000);
            progress("wiped n" + (follower + 1) + " caught up: " + caughtUp + " (applied " + cluster.appliedIndex(follower)
                    + ", leader " + cluster.appliedIndex(theLeader) + ")");
            assertTrue(caughtUp, "the wiped follower did not catch up within 180 s; logs in " + work);

            finish(cluster, target);
            Verdict v = ledger.verdict("cluster durability " + durability, killPoints.size(), killPoints.size(),
                    System.currentTimeMillis() - t0, List.of(), killPoints);
            String report = v + "\nfailover to first ack (ms): " + summary(failoverMillis) + "\nseed " + SEED
                    + ", work folder " + work + "\n";
            System.out.println(report);
            Files.writeString(ChaosIT.workRoot().resolve("verdicts.txt"), report + "\n", StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
            closeClients();
            List<Integer> exits = cluster.terminateAll();
            assertEquals(List.of(0, 0, 0), exits, "exit statuses after SIGTERM");
            assertTrue(publisherFailures().isEmpty(), "publisher threads failed: " + publisherFailures());
            assertTrue(v.acknowledged() >= target, "acknowledged at least " + target + ":\n" + report);
            assertEquals(0, v.lost(), "acknowledged messages lost:\n" + report);
            assertEquals(0, v.qos2Duplicates(), "QoS 2 messages delivered twice:\n" + report);
            assertEquals(0, v.orderViolations(), "order violations:\n" + report);
            assertEquals(0, v.anomalies(), "anomalies:\n" + report);
        } finally {
            closeClients();
            connector.shutdownNow();
        }
    }

    private void createClients(String uri, Path paho) throws Exception {
        Files.createDirectories(paho);
        int[] qos = {1, 1, 2, 2};
        for (int i = 0; i < qos.length; i++) {
            String name = "p" + (i + 1);
            publishers.add(new PahoPublisher(name + "-q" + qos[i], qos[i], List.of("chaos/" + name + "/a", "chaos/" + name + "/b"),
                    WINDOW, ledger, uri, paho, () -> ledger.acknowledgedCount() - ledger.deliveries("s-all") < MAX_LAG));
        }
        subscribers.add(new PahoSubscriber("s-all", "chaos/#", 2, null, ledger, uri, paho));
        subscribers.add(new PahoSubscriber("s-plus-q1", "chaos/+/b", 1, null, ledger, uri, paho));
        subscribers.add(new PahoSubscriber("s-drain", "chaos/#", 2, null, ledger, uri, paho));
        for (PahoSubscriber s : subscribers) {
            s.connect(uri);
        }
        for (PahoPublisher p : publishers) {
            p.start();
        }
        connectAll(uri);
    }

    /** Connects every client that should be online; a client already connected stays as it is. */
    private void connectAll(String uri) throws Exception {
        List<Future<?>> done = new ArrayList<>();
        for (PahoPublisher p : publishers) {
            done.add(connector.submit(() -> {
                p.connect(uri);
                return null;
            }));
        }
        for (PahoSubscriber s : subscribers) {
            if (s.wantOnline) {
                done.add(connector.submit(() -> {
                    s.connect(uri);
                    return null;
                }));
            }
        }
        for (Future<?> f : done) {
            f.get();
        }
    }

    private void finish(ClusterUnderTest cluster, int target) throws Exception {
        for (PahoSubscriber s : subscribers) {
            s.wantOnline = true;
        }
        long deadline = System.currentTimeMillis() + 180_000;
        while (ledger.acknowledgedCount() < target && System.currentTimeMillis() < deadline) {
            int leader = cluster.awaitLeader(60_000);
            connectAll(cluster.uri(leader)); // no-op for connected clients
            Thread.sleep(1_000);
        }
        for (PahoPublisher p : publishers) {
            p.pause(true);
        }
        progress("target reached: acknowledged " + ledger.acknowledgedCount());
        int leader = cluster.awaitLeader(60_000);
        connectAll(cluster.uri(leader));
        if (!await(() -> publishers.stream().mapToInt(PahoPublisher::inFlight).sum() == 0, 60_000)) {
            for (PahoPublisher p : publishers) {
                for (MsgId id : p.inFlightIds()) {
                    ledger.anomaly("no delivery complete for " + id + " after 60 s; " + ledger.describe(id));
                }
            }
        }
        long lastMissing = Long.MAX_VALUE;
        long lastProgress = System.currentTimeMillis();
        while (System.currentTimeMillis() - lastProgress < 30_000) {
            long missing = ledger.missing();
            if (missing == 0) {
                break;
            }
            if (missing < lastMissing) {
                lastMissing = missing;
                lastProgress = System.currentTimeMillis();
            }
            Thread.sleep(100);
        }
        progress("drained, missing " + ledger.missing());
    }

    private List<Throwable> publisherFailures() {
        List<Throwable> out = new ArrayList<>();
        for (PahoPublisher p : publishers) {
            if (p.failure() != null) {
                out.add(p.failure());
            }
        }
        return out;
    }

    private void closeClients() throws InterruptedException {
        for (PahoPublisher p : publishers) {
            p.close();
        }
        for (PahoSubscriber s : subscribers) {
            s.close();
        }
        publishers.clear();
        subscribers.clear();
    }

    private static String summary(List<Long> millis) {
        if (millis.isEmpty()) {
            return "none";
        }
        List<Long> sorted = new ArrayList<>(millis);
        Collections.sort(sorted);
        return "n=" + sorted.size() + " median " + sorted.get(sorted.size() / 2) + " max " + sorted.get(sorted.size() - 1)
                + " all " + millis;
    }

    private static long last(List<Long> values) {
        return values.isEmpty() ? -1 : values.get(values.size() - 1);
    }

    private static boolean await(BooleanSupplier condition, long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(20);
        }
        return condition.getAsBoolean();
    }
}
