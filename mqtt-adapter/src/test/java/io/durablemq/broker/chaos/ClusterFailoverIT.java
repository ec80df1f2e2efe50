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
import java.util.Set;
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
 * moments; the clients reconnect to whichever node serves; once the first acknowledgement after
 * the kill has arrived, the killed node is restarted (a dead machine does not come back on the same
 * cores during the failover it caused) and rejoins as a follower before the next kill; every second
 * kill restarts it at once instead, as a supervisor (systemd) restarts a crashed process, so its JVM
 * start competes with the failover and it rejoins during the election. Then a
 * follower is killed, its data and Raft folders deleted, and restarted: it must catch up (its
 * applied index reaches the leader's) while the traffic goes on. Last, the leader is paused
 * (SIGSTOP) past the election timeout while its publishers stay connected to it, and resumed once
 * another node leads: it must acknowledge nothing the new leader's log lacks (a subscriber that is
 * offline throughout, so it can only receive from the new leader's store, must get every message
 * acknowledged in that window), and it must step down and apply the new leader's entries.
 * Verdict by {@link Ledger}: 0 acknowledged lost, 0 QoS 2
 * duplicates, order per publisher kept. Figures: failover time from the kill to the new leader's
 * {@code /ready} and to the first acknowledgement after the kill.
 *
 * <p>The 10-kill run is part of the default {@code mvn verify} (2-7 min on 2 busy cores); the 100-kill
 * run is soak only ({@code -Psoak}). docs/CLUSTER.md has the record of runs.
 */
class ClusterFailoverIT {
    private static final long SEED = Long.getLong("chaos.seed", System.nanoTime());

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void leaderSigkillUnderLoadLosesNothing() throws Exception {
        run("fsync", Integer.getInteger("cluster.kills", 10), 1, Integer.getInteger("cluster.target", 2_000));
    }

    /** Paused leaders only, many times: the hunt for the hang after SIGCONT (docs/CLUSTER.md, "Stability record"). */
    @Test
    @Tag("soak")
    @Timeout(value = 2, unit = TimeUnit.HOURS)
    void soakPausedLeader() throws Exception {
        run("fsync", 0, Integer.getInteger("cluster.soak.pauses", 20), Integer.getInteger("cluster.target", 2_000));
    }

    @Test
    @Tag("soak")
    @Timeout(value = 6, unit = TimeUnit.HOURS)
    void soakLeaderSigkill() throws Exception {
        run("fsync", Integer.getInteger("cluster.soak.kills", 100), 1, Integer.getInteger("cluster.soak.target", 20_000));
    }

    private final ClusterWorkload clients = new ClusterWorkload(this::progress);
    private final Ledger ledger = clients.ledger;
    /** Kill to the new leader's /ready 200 (the broker's part of a failover). */
    private final List<Long> servingMillis = new ArrayList<>();
    /** The same for the kills whose node restarted at once (kept apart: their JVM start competes for the cores). */
    private final List<Long> servingAtOnceMillis = new ArrayList<>();
    private final List<Long> failoverAtOnceMillis = new ArrayList<>();
    /** Kill to the first acknowledgement after it (what a publisher sees). */
    private final List<Long> failoverMillis = new ArrayList<>();
    private long t0;

    private void progress(String text) {
        System.out.printf("[cluster %6.1fs] %s%n", (System.currentTimeMillis() - t0) / 1000.0, text);
    }

    /**
     * Connects every client to {@code serving}; if leadership moves while they reconnect (that node then answers
     * CONNACK 0x03, seen once in 48 soak kills on a machine at load 35: a new leader stepped down 0.7 s after it
     * started serving), to the node that serves next. Returns the node the clients are on.
     */
    private int connectToServing(ClusterUnderTest cluster, int serving, Path work, String when) throws Exception {
        for (int attempt = 1; ; attempt++) {
            try {
                clients.connectAll(cluster.uri(serving));
                return serving;
            } catch (java.util.concurrent.ExecutionException e) {
                boolean unavailable = e.getCause() instanceof org.eclipse.paho.client.mqttv3.MqttException m
                        && m.getReasonCode() == org.eclipse.paho.client.mqttv3.MqttException.REASON_CODE_BROKER_UNAVAILABLE;
                if (!unavailable || attempt >= 5) {
                    throw e;
                }
                int now = cluster.awaitLeader(120_000);
                assertTrue(now >= 0, "no leader within 120 s after n" + (serving + 1) + " stopped serving " + when + "; logs in " + work);
                progress("n" + (serving + 1) + " stopped serving while the clients reconnected " + when + "; now n" + (now + 1));
                leadershipMovedWhileConnecting++;
                serving = now;
            }
        }
    }

    private int leadershipMovedWhileConnecting;

    /** Waits until {@code condition}, for {@code stallMillis} without {@code progress} growing, at most {@code maxMillis}. */
    private static boolean awaitWhileProgressing(BooleanSupplier condition, java.util.function.LongSupplier progress,
                                                 long stallMillis, long maxMillis) throws InterruptedException {
        long end = System.currentTimeMillis() + maxMillis;
        long stallEnd = System.currentTimeMillis() + stallMillis;
        long seen = progress.getAsLong();
        while (System.currentTimeMillis() < Math.min(end, stallEnd)) {
            if (condition.getAsBoolean()) {
                return true;
            }
            long now = progress.getAsLong();
            if (now > seen) {
                seen = now;
                stallEnd = System.currentTimeMillis() + stallMillis;
            }
            Thread.sleep(100);
        }
        return condition.getAsBoolean();
    }

    private void run(String durability, int kills, int pauses, int target) throws Exception {
        t0 = System.currentTimeMillis();
        Random random = new Random(SEED);
        Path work = ChaosIT.workRoot().resolve("cluster-" + durability + "-" + kills + "-" + System.currentTimeMillis());
        Files.createDirectories(work);
        List<String> killPoints = new ArrayList<>();
        try (ClusterUnderTest cluster = new ClusterUnderTest(BrokerUnderTest.brokerJar(), work, durability)) {
            cluster.startAll();
            int leader = cluster.awaitLeader(180_000);
            assertTrue(leader >= 0, "no leader within 180 s; logs in " + work);
            progress("leader n" + (leader + 1) + " (seed " + SEED + ", rerun with -Dchaos.seed=" + SEED + ")");
            clients.createClients(cluster.uri(leader), work.resolve("paho"));
            PahoSubscriber drain = clients.drain();
            for (int k = 0; k < kills; k++) {
                long ms = 500 + random.nextInt(1_500);
                Thread.sleep(ms);
                if (k % 3 == 1 && drain.wantOnline) {
                    drain.goOffline(); // its queue fills across the next failovers
                } else if (!drain.wantOnline && k % 3 == 0) {
                    drain.wantOnline = true;
                }
                // whoever serves now: leadership may have moved without a kill (an election on a loaded machine)
                leader = cluster.awaitLeader(120_000);
                assertTrue(leader >= 0, "no leader before kill " + (k + 1) + "; logs in " + work);
                leader = connectToServing(cluster, leader, work, "before kill " + (k + 1));
                for (int n = 0; n < ClusterUnderTest.NODES; n++) {
                    // A node that exited (seen once: its port taken before it bound it) leaves no majority
                    // after the kill; say so here rather than as "no new leader" later.
                    assertTrue(cluster.isAlive(n), "n" + (n + 1) + " is not running before kill " + (k + 1)
                            + "; its log is in " + work);
                }
                int ackedBefore = ledger.acknowledgedCount();
                long killedAt = System.nanoTime();
                assertEquals(137, cluster.kill(leader), "exit status after SIGKILL");
                killPoints.add("n" + (leader + 1) + " after " + ms + " ms (acknowledged " + ackedBefore + ")");
                boolean restartAtOnce = k % 2 == 1;
                if (restartAtOnce) {
                    cluster.start(leader);
                }
                int next = cluster.awaitLeader(120_000);
                assertTrue(next >= 0, "no new leader within 120 s after kill " + (k + 1) + "; logs in " + work);
                // Counted from here: the clients reconnect only now, so any acknowledgement counted before came
                // from the dead leader, late out of a client's callback queue (seen: 0.3 s after a kill, under load).
                FirstAck firstAck = FirstAck.watch(ledger);
                long readyMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
                (restartAtOnce ? servingAtOnceMillis : servingMillis).add(readyMillis);
                int stallsBefore = PahoClients.STALLED_CONNECTS.get();
                next = connectToServing(cluster, next, work, "after kill " + (k + 1));
                // where the time after /ready goes: every client's reconnect (a Paho CONNECT that stalls costs 1.5 s)
                long connectedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
                int stalls = PahoClients.STALLED_CONNECTS.get() - stallsBefore;
                Long ackedAt = firstAck.await(30_000);
                Long ackMillis = ackedAt == null ? null : TimeUnit.NANOSECONDS.toMillis(ackedAt - killedAt);
                if (ackMillis != null) {
                    (restartAtOnce ? failoverAtOnceMillis : failoverMillis).add(ackMillis);
                }
                if (!restartAtOnce) {
                    cluster.start(leader); // the killed node comes back as a follower
                }
                int killed = leader;
                int serving = next;
                long leaderApplied = cluster.appliedIndex(serving);
                boolean rejoined = killed == serving || ClusterWorkload.await(() -> cluster.status(killed).contains("role FOLLOWING")
                        && cluster.appliedIndex(killed) >= leaderApplied, 120_000);
                assertTrue(rejoined, "n" + (killed + 1) + " did not rejoin within 120 s after kill " + (k + 1) + "; logs in " + work);
                progress("kill " + (k + 1) + "/" + kills + ": n" + (leader + 1) + " -> n" + (next + 1) + ", acknowledged "
                        + ledger.acknowledgedCount() + ", new leader ready after " + readyMillis
                        + " ms, all clients reconnected after " + connectedMillis + " ms (" + stalls + " stalled Paho connects)"
                        + ", first ack after " + (ackMillis == null ? "(none in 30 s)" : ackMillis + " ms")
                        + (restartAtOnce ? " (killed node restarted at once)" : "")
                        + "; n" + (killed + 1) + " rejoined");
                leader = next;
            }

            // A follower loses its disk: it comes back empty and catches up from the leader's log.
            int follower = (leader + 1) % ClusterUnderTest.NODES;
            assertEquals(137, cluster.kill(follower));
            cluster.wipe(follower);
            cluster.start(follower);
            int theLeader = leader;
            boolean caughtUp = ClusterWorkload.await(() -> cluster.appliedIndex(follower) >= 0
                    && cluster.appliedIndex(follower) >= cluster.appliedIndex(theLeader) - 5, 180_000);
            progress("wiped n" + (follower + 1) + " caught up: " + caughtUp + " (applied " + cluster.appliedIndex(follower)
                    + ", leader " + cluster.appliedIndex(theLeader) + ")");
            if (!caughtUp) {
                for (int i = 0; i < ClusterUnderTest.NODES; i++) {
                    if (cluster.isAlive(i)) {
                        cluster.threadDump(i, "no-catch-up");
                    }
                }
                assertTrue(caughtUp, "the wiped follower did not catch up within 180 s; thread dumps and logs in " + work);
            }

            // last: a node left hung by the pause would otherwise hide the steps after it
            for (int p = 0; p < pauses; p++) {
                Thread.sleep(p == 0 ? 0 : 1_000); // traffic on the new leader before it is paused in turn
                leader = pausedLeaderAcknowledgesNothingTheNewLogLacks(cluster, work, killPoints);
            }

            clients.finish(cluster, target);
            Verdict v = ledger.verdict("cluster durability " + durability, killPoints.size(), killPoints.size(),
                    System.currentTimeMillis() - t0, List.of(), killPoints);
            String report = v + "\nfailover, kill to the new leader's /ready (ms): " + summary(servingMillis)
                    + "\nfailover, kill to the first acknowledgement after it (ms): " + summary(failoverMillis)
                    + "\nthe same when the killed node restarted at once: /ready " + summary(servingAtOnceMillis)
                    + "; first acknowledgement " + summary(failoverAtOnceMillis)
                    + "\nleadership moved while the clients reconnected: " + leadershipMovedWhileConnecting + " times"
                    + "\nload average at the end: " + loadAverage() + "\nseed " + SEED + ", work folder " + work + "\n";
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
     * The leader is paused (SIGSTOP) past the election timeout while its publishers stay connected to
     * it; another node takes over; the old one resumes (SIGCONT) and must step down. The drain
     * subscriber is offline from before the pause until its clients are on the new leader, so it can
     * only receive what the new leader's store holds: every message acknowledged in that window (by
     * the paused node included) must reach it. Returns the new leader.
     */
    private int pausedLeaderAcknowledgesNothingTheNewLogLacks(ClusterUnderTest cluster, Path work, List<String> killPoints)
            throws Exception {
        int paused = cluster.awaitLeader(120_000);
        assertTrue(paused >= 0, "no leader before the pause; logs in " + work);
        clients.connectAll(cluster.uri(paused));
        PahoSubscriber drain = clients.drain();
        drain.goOffline();
        Set<MsgId> ackedBefore = ledger.acknowledgedIds();
        cluster.signal(paused, "STOP");
        long pausedAt = System.currentTimeMillis();
        int successor = cluster.awaitLeaderOtherThan(paused, 120_000);
        assertTrue(successor >= 0, "no leader while n" + (paused + 1) + " is stopped; logs in " + work);
        Thread.sleep(1_000);
        int ackedBeforeResume = ledger.acknowledgedCount();
        cluster.signal(paused, "CONT");
        // Stepped down and following again: its Raft server takes the new leader's entries (applied index caught up).
        long successorApplied = cluster.appliedIndex(successor);
        boolean steppedDown = ClusterWorkload.await(() -> cluster.status(paused).contains("role FOLLOWING")
                && cluster.appliedIndex(paused) >= successorApplied, 60_000);
        int ackedByResumed = ledger.acknowledgedCount() - ackedBeforeResume; // its publishers are still on it
        progress("SIGSTOP n" + (paused + 1) + " for " + (System.currentTimeMillis() - pausedAt) + " ms: n"
                + (successor + 1) + " leads; the old leader follows again and caught up: " + steppedDown
                + "; acknowledgements its clients got after SIGCONT: " + ackedByResumed);
        if (!steppedDown) {
            Path dump = cluster.threadDump(paused, "no-step-down");
            assertTrue(steppedDown, "the paused leader did not step down and catch up within 60 s after SIGCONT ("
                    + cluster.status(paused).replace('\n', ' ') + "; the leader's applied index " + successorApplied
                    + "); its threads: " + dump);
        }
        killPoints.add("SIGSTOP n" + (paused + 1));
        // As after a kill: on a loaded machine the successor may lose its leadership while the clients reconnect
        // (seen once at load 22, s21: host stalls of 0.4-0.6 s on every node, the successor stepped down for lost
        // heartbeats 8 s after it started serving); the clients then go to the node that serves next. Every
        // later leader's log holds what any earlier one committed, so the check below holds for it too.
        successor = connectToServing(cluster, successor, work, "after the pause");
        Set<MsgId> window = ledger.acknowledgedIds();
        window.removeAll(ackedBefore);
        drain.wantOnline = true;
        drain.connect(cluster.uri(successor));
        // The drain receives its queue in order, so the window comes after its whole backlog: after 100 soak kills
        // that was 211,498 messages, more than 60 s of delivery (the first soak with this check failed there, every
        // "missing" message was in the new leader's store). So: wait while its deliveries keep growing.
        boolean allInNewLog = awaitWhileProgressing(() -> window.stream().allMatch(id -> ledger.deliveredTo(drain.name, id)),
                () -> ledger.deliveries(drain.name), 60_000, 15 * 60_000);
        List<MsgId> missing = window.stream().filter(id -> !ledger.deliveredTo(drain.name, id)).limit(10).toList();
        progress("acknowledged from the pause to the reconnect: " + window.size() + ", all delivered from the new leader's"
                + " store: " + allInNewLog + (missing.isEmpty() ? "" : " (missing " + missing + ")"));
        assertTrue(allInNewLog, "acknowledged around the pause but not in the new leader's store: " + missing);
        return successor;
    }

    private static String summary(List<Long> millis) {
        if (millis.isEmpty()) {
            return "none";
        }
        List<Long> sorted = new ArrayList<>(millis);
        Collections.sort(sorted);
        int p99 = Math.max(0, (int) Math.ceil(0.99 * sorted.size()) - 1); // nearest rank: the maximum below 100 kills
        return "n=" + sorted.size() + " median " + sorted.get(sorted.size() / 2) + " p99 " + sorted.get(p99) + " max "
                + sorted.get(sorted.size() - 1) + " all " + millis;
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    /** Records when the ledger's acknowledged count first grows past its value at {@link #watch}. */
    private static final class FirstAck {
        private final Thread thread;
        private volatile Long at;

        private FirstAck(Ledger ledger) {
            int baseline = ledger.acknowledgedCount();
            thread = new Thread(() -> {
                try {
                    while (ledger.acknowledgedCount() <= baseline) {
                        Thread.sleep(2);
                    }
                    at = System.nanoTime();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "first-ack-watch");
            thread.setDaemon(true);
            thread.start();
        }

        static FirstAck watch(Ledger ledger) {
            return new FirstAck(ledger);
        }

        /** The nanoTime of the first acknowledgement, or null if none came within {@code millis}. */
        Long await(long millis) throws InterruptedException {
            thread.join(millis);
            thread.interrupt();
            return at;
        }
    }

}
