package io.durablemq.broker.chaos;

import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real network partition (issue 13, "Partition"): three broker processes, each in its own
 * network namespace on a private bridge ({@link NetnsNetwork}), under the durable Paho clients of
 * {@link ClusterFailoverIT} ({@link ClusterWorkload}).
 *
 * <ol>
 *   <li>The serving leader is cut off from both followers (packets dropped both ways; clients still
 *       reach every node). A client connected to it publishes QoS 1 after the cut: it must get no
 *       PUBACK, and the old leader must close its connection (it stops serving). The two followers
 *       must elect a leader that serves; the clients move to it and acknowledgements continue.</li>
 *   <li>The cut heals: the old leader follows the new one and catches up.</li>
 *   <li>A follower is cut off: the leader keeps acknowledging (a majority remains); healed, it catches up.</li>
 *   <li>Verdict by the {@link Ledger}: 0 acknowledged lost, 0 QoS 2 delivered twice, order per publisher
 *       kept, and the minority's unacknowledged publish never delivered (an unknown message would be an
 *       anomaly).</li>
 * </ol>
 *
 * <p>Needs root and {@code ip netns}; without them it is skipped, saying why, unless
 * {@code -Dnetns.required=true} (CI, as root), which makes it fail instead.
 */
class ClusterPartitionIT {
    private static final int ACKED_BEFORE_CUT = 300;
    private static final int ACKED_DURING_CUT = 200;

    private long t0;
    private final List<String> events = new ArrayList<>();

    private void progress(String text) {
        System.out.printf("[partition %6.1fs] %s%n", (System.currentTimeMillis() - t0) / 1000.0, text);
    }

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void leaderCutOffFromBothFollowersAcknowledgesNothingAndTheMajorityServes() throws Exception {
        t0 = System.currentTimeMillis();
        Path work = ChaosIT.workRoot().resolve("partition-" + System.currentTimeMillis());
        Files.createDirectories(work);
        int target = Integer.getInteger("partition.target", 1_500);
        try (NetnsNetwork net = NetnsNetwork.createOrSkip(ClusterUnderTest.NODES)) {
            List<String> hosts = new ArrayList<>();
            List<List<String>> prefixes = new ArrayList<>();
            for (int i = 0; i < ClusterUnderTest.NODES; i++) {
                hosts.add(net.address(i));
                prefixes.add(net.exec(i));
            }
            progress("namespaces up: nodes at " + hosts);
            // Declared after the network: closed (processes killed) before the namespaces are deleted.
            try (ClusterUnderTest cluster = new ClusterUnderTest(BrokerUnderTest.brokerJar(), work, "fsync", hosts, prefixes)) {
                cluster.startAll();
                int leader = cluster.awaitLeader(180_000);
                assertTrue(leader >= 0, "no leader within 180 s; logs in " + work);
                progress("leader n" + (leader + 1));
                try (ClusterWorkload clients = new ClusterWorkload(this::progress)) {
                    clients.createClients(cluster.uri(leader), work.resolve("paho"));
                    Ledger ledger = clients.ledger;
                    assertTrue(ClusterWorkload.await(() -> ledger.acknowledgedCount() >= ACKED_BEFORE_CUT, 120_000),
                            "only " + ledger.acknowledgedCount() + " acknowledged before the cut; logs in " + work);

                    int successor = cutOffTheLeader(net, cluster, clients, leader, work);
                    // The node that was cut neither time so far: every node is cut off once in a run.
                    cutOffAFollower(net, cluster, clients, successor, 3 - leader - successor, work);

                    clients.finish(() -> cluster.uri(awaitServing(cluster, work)), target);
                    Verdict v = ledger.verdict("cluster partition (netns)", 0, 0, System.currentTimeMillis() - t0,
                            List.of(), events);
                    String report = v + "\nwork folder " + work + "\n";
                    System.out.println(report);
                    Files.writeString(ChaosIT.workRoot().resolve("verdicts.txt"), report + "\n", StandardOpenOption.CREATE,
                            StandardOpenOption.APPEND);
                    clients.close();
                    assertEquals(List.of(0, 0, 0), cluster.terminateAll(), "exit statuses after SIGTERM");
                    assertTrue(clients.publisherFailures().isEmpty(), "publisher threads failed: " + clients.publisherFailures());
                    assertTrue(v.acknowledged() >= target, "acknowledged at least " + target + ":\n" + report);
                    assertEquals(0, v.lost(), "acknowledged messages lost:\n" + report);
                    assertEquals(0, v.qos2Duplicates(), "QoS 2 messages delivered twice:\n" + report);
                    assertEquals(0, v.orderViolations(), "order violations:\n" + report);
                    assertEquals(0, v.anomalies(), "anomalies (the minority's publish delivered?):\n" + report);
                }
            }
        }
    }

    /** Step 1 and 2; returns the node that leads after the heal. */
    private int cutOffTheLeader(NetnsNetwork net, ClusterUnderTest cluster, ClusterWorkload clients, int leader, Path work)
            throws Exception {
        // Connected before the cut, so the only way to lose it is the old leader closing it.
        RawConnection probe = RawConnection.open(cluster.host(leader), cluster.mqttPort(leader), "probe-minority");
        try {
            int ackedAtCut = clients.ledger.acknowledgedCount();
            net.isolate(leader);
            long cutAt = System.currentTimeMillis();
            progress("n" + (leader + 1) + " (leader) cut off from both followers at " + ackedAtCut + " acknowledged");
            events.add("cut leader n" + (leader + 1));
            // Not in the ledger: if this message were ever delivered, the ledger would report an unknown message.
            byte[] payload = new MsgId("probe-minority", 1).payload(32);
            boolean closedBeforePublish = false;
            try {
                probe.send(RawConnection.publish("chaos/probe/a", payload, 1, 1, false));
            } catch (IOException e) {
                closedBeforePublish = true;
            }

            int successor = cluster.awaitLeaderOtherThan(leader, 120_000);
            assertTrue(successor >= 0, "the majority elected no serving leader within 120 s of the cut; logs in " + work);
            long electedAt = System.currentTimeMillis();
            progress("majority side: n" + (successor + 1) + " serves " + (electedAt - cutAt) + " ms after the cut");

            MqttMessage ack = null;
            boolean closed = closedBeforePublish;
            if (!closed) {
                try {
                    ack = probe.receive(MqttMessageType.PUBACK, Math.max(1_000, cutAt + 120_000 - System.currentTimeMillis()));
                } catch (IOException e) {
                    closed = true;
                }
            }
            assertNull(ack, "the cut-off leader acknowledged a publish it could not replicate");
            assertTrue(closed, "the cut-off leader kept the client's connection open for 120 s; logs in " + work);
            progress("minority side: no PUBACK, connection closed " + (System.currentTimeMillis() - cutAt)
                    + " ms after the cut" + (closedBeforePublish ? " (already before the publish)" : ""));
            assertTrue(ClusterWorkload.await(() -> cluster.status(leader).contains("role FOLLOWING"), 60_000),
                    "the cut-off leader does not say it follows: " + cluster.status(leader));
            assertEquals(503, cluster.httpStatus(leader, "/ready"), "/ready of the cut-off node");

            clients.connectAll(cluster.uri(successor));
            int ackedAfterMove = clients.ledger.acknowledgedCount();
            assertTrue(ClusterWorkload.await(() -> {
                        try {
                            clients.connectAll(cluster.uri(successor)); // clients the old leader closed late
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                        return clients.ledger.acknowledgedCount() >= ackedAfterMove + ACKED_DURING_CUT;
                    }, 120_000),
                    "the majority's leader acknowledged only " + (clients.ledger.acknowledgedCount() - ackedAfterMove)
                            + " while the old leader was cut off; logs in " + work);
            progress("majority served while cut: acknowledged " + clients.ledger.acknowledgedCount());

            net.heal();
            events.add("healed n" + (leader + 1));
            long appliedAtHeal = cluster.appliedIndex(successor);
            boolean caughtUp = ClusterWorkload.await(() -> cluster.appliedIndex(leader) >= appliedAtHeal
                    && cluster.status(leader).contains("leader n" + (successor + 1)), 120_000);
            progress("healed: old leader n" + (leader + 1) + " follows n" + (successor + 1) + " and caught up: " + caughtUp
                    + " (applied " + cluster.appliedIndex(leader) + ", leader had " + appliedAtHeal + " at the heal)");
            assertTrue(caughtUp, "the old leader did not catch up within 120 s of the heal: " + cluster.status(leader)
                    + "; logs in " + work);
            return successor;
        } finally {
            probe.close();
            probe.release();
        }
    }

    /** Step 3: a minority follower cut off costs nothing visible. */
    private void cutOffAFollower(NetnsNetwork net, ClusterUnderTest cluster, ClusterWorkload clients, int leader, int follower,
                                 Path work) throws Exception {
        net.isolate(follower);
        events.add("cut follower n" + (follower + 1));
        int ackedAtCut = clients.ledger.acknowledgedCount();
        progress("n" + (follower + 1) + " (follower) cut off at " + ackedAtCut + " acknowledged");
        assertTrue(ClusterWorkload.await(() -> clients.ledger.acknowledgedCount() >= ackedAtCut + ACKED_DURING_CUT, 120_000),
                "the leader acknowledged only " + (clients.ledger.acknowledgedCount() - ackedAtCut)
                        + " with one follower cut off; logs in " + work);
        assertTrue(cluster.status(leader).contains("role SERVING"), "the leader stopped serving: " + cluster.status(leader));
        net.heal();
        events.add("healed n" + (follower + 1));
        long appliedAtHeal = cluster.appliedIndex(leader);
        boolean caughtUp = ClusterWorkload.await(() -> cluster.appliedIndex(follower) >= appliedAtHeal, 120_000);
        progress("follower n" + (follower + 1) + " healed, caught up: " + caughtUp + " (applied "
                + cluster.appliedIndex(follower) + ", leader had " + appliedAtHeal + " at the heal)");
        assertTrue(caughtUp, "the cut-off follower did not catch up within 120 s: " + cluster.status(follower) + "; logs in " + work);
    }

    private static int awaitServing(ClusterUnderTest cluster, Path work) throws InterruptedException {
        int leader = cluster.awaitLeader(60_000);
        assertTrue(leader >= 0, "no node serves; logs in " + work);
        return leader;
    }
}
