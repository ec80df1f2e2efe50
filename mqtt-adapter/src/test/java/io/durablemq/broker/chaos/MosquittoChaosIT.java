package io.durablemq.broker.chaos;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The chaos run with clients nobody here wrote: Debian's mosquitto_pub (one process per message,
 * QoS 1 and 2, clean session; acknowledged only when the process exited 0, i.e. it got PUBACK /
 * PUBCOMP on its one connection: mosquitto_pub does not reconnect, it exits 7 on a lost
 * connection) and mosquitto_sub {@code -c} (persistent sessions). The broker is SIGKILLed at random
 * moments and restarted on the same port; the mosquitto_sub processes keep running and reconnect
 * by themselves. They must: libmosquitto keeps a received QoS 2 message only in memory until the
 * PUBREL, so a mosquitto_sub restarted while one is in that state loses it (the broker then
 * rightly sends only PUBREL again) - a client-side loss this harness must not blame on the broker.
 * The QoS 1 subscriber goes offline (SIGTERM, clean DISCONNECT) on every other broker life so its
 * queue fills and drains. Skipped when mosquitto-clients or stdbuf are missing.
 */
class MosquittoChaosIT {
    @BeforeAll
    static void needsMosquittoClients() {
        assumeTrue(onPath("mosquitto_pub") && onPath("mosquitto_sub") && onPath("stdbuf"),
                "mosquitto-clients (and coreutils stdbuf) not installed");
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (new File(d, tool).canExecute()) {
                return true;
            }
        }
        return false;
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void mosquittoClientsSeeNoLossAndNoQos2Duplicates() throws Exception {
        int kills = Integer.getInteger("chaos.mosquitto.kills", 4);
        long seed = Long.getLong("chaos.seed", System.nanoTime());
        Random random = new Random(seed);
        Path work = ChaosIT.workRoot().resolve("mosquitto-" + kills + "-" + System.currentTimeMillis());
        Files.createDirectories(work);
        Ledger ledger = new Ledger();
        MosquittoSub all = new MosquittoSub("mq-all", "mchaos/#", 2, work, ledger);
        MosquittoSub downgraded = new MosquittoSub("mq-q2-at-q1", "mchaos/q2/+", 1, work, ledger);
        List<MosquittoSub> subs = List.of(all, downgraded);
        List<MosquittoPublisher> pubs = new ArrayList<>();
        long t0 = System.currentTimeMillis();
        List<String> points = new ArrayList<>();
        try (BrokerUnderTest broker = new BrokerUnderTest(BrokerUnderTest.brokerJar(), work, "fsync")) {
            broker.start();
            for (MosquittoSub s : subs) {
                s.start(broker.port());
            }
            Thread.sleep(500); // the subscriptions exist before the first publish
            for (String[] p : new String[][] {{"mp1", "1"}, {"mp2", "1"}, {"mp3", "2"}, {"mp4", "2"}}) {
                MosquittoPublisher pub = new MosquittoPublisher(p[0], Integer.parseInt(p[1]),
                        "mchaos/q" + p[1] + "/" + p[0], ledger, broker::port, work);
                pubs.add(pub);
                pub.start();
            }
            for (int k = 0; k < kills; k++) {
                long ms = 1_500 + random.nextInt(2_500);
                Thread.sleep(ms);
                downgraded.collect(ledger);
                int connacksBeforeKill = downgraded.connacks();
                assertEquals(137, broker.kill(), "broker exit status after SIGKILL");
                points.add("RANDOM(" + ms + "ms)");
                broker.start();
                // the running mosquitto_sub processes reconnect by themselves (to the same port)
                assumeTrue(broker.portChanges() == 0, "another process took the broker's port; mosquitto_sub "
                        + "cannot follow it without a restart that would forget its QoS 2 state");
                assertTrue(all.isRunning(), "mosquitto_sub " + all.name + " still running");
                if (k % 2 == 0) {
                    // SIGTERM only once it is connected to this life: one that lands while libmosquitto is
                    // reconnecting leaves a process that acknowledges without printing (MosquittoSub)
                    assertTrue(downgraded.awaitReconnect(connacksBeforeKill, 15_000),
                            "mosquitto_sub " + downgraded.name + " reconnected to the restarted broker");
                    downgraded.stop(); // a clean DISCONNECT: offline for this life, its queue fills
                } else {
                    downgraded.start(broker.port());
                }
                for (MosquittoSub s : subs) {
                    s.collect(ledger);
                }
                System.out.printf("[chaos mosquitto %5.1fs] kill %d/%d, acknowledged %d%n",
                        (System.currentTimeMillis() - t0) / 1000.0, k + 1, kills, ledger.acknowledgedCount());
            }
            if (!downgraded.isRunning()) {
                downgraded.start(broker.port());
            }
            Thread.sleep(1_000);
            for (MosquittoPublisher p : pubs) {
                p.stop();
            }
            long quietSince = System.currentTimeMillis();
            long lastMissing = Long.MAX_VALUE;
            while (System.currentTimeMillis() - quietSince < 20_000) {
                for (MosquittoSub s : subs) {
                    s.collect(ledger);
                }
                long missing = ledger.missing();
                if (missing == 0) {
                    break;
                }
                if (missing < lastMissing) {
                    lastMissing = missing;
                    quietSince = System.currentTimeMillis();
                }
                Thread.sleep(100);
            }
            for (MosquittoSub s : subs) {
                s.stop();
                s.collect(ledger);
            }
            Verdict v = ledger.verdict("mosquitto_pub/mosquitto_sub, durability fsync", points.size(),
                    broker.starts() - 1, System.currentTimeMillis() - t0, broker.recoveryMillis(), points);
            long exits = pubs.stream().mapToLong(p -> p.nonZeroExits.get()).sum();
            // Losses libmosquitto explains (see MosquittoSub): mq-all's QoS 2 messages stuck behind a stale copy,
            // and either subscriber's messages its own process acknowledged after its DISCONNECT. Per topic, never
            // more than that topic's losses.
            Map<String, Integer> stuck = all.stuckBehindSecondCopies();
            Map<String, String> swallowed = new java.util.LinkedHashMap<>();
            long explained = 0;
            for (MosquittoSub s : subs) {
                Map<String, Integer> after = s.receivedAfterOwnDisconnect();
                if (!after.isEmpty()) {
                    swallowed.put(s.name, after.toString());
                }
                for (Map.Entry<String, List<MsgId>> e : ledger.lostPerTopic(s.name).entrySet()) {
                    int known = after.getOrDefault(e.getKey(), 0) + (s == all ? stuck.getOrDefault(e.getKey(), 0) : 0);
                    explained += Math.min(e.getValue().size(), known);
                }
            }
            long brokerLost = v.lost() - explained;
            long ok = v.acknowledged();
            long avgMillis = ok == 0 ? 0 : pubs.stream().mapToLong(p -> p.okNanos.get()).sum() / ok / 1_000_000;
            String report = v + "mosquitto_pub processes that did not exit 0 (not counted as acknowledged): " + exits
                    + "; those that did took " + avgMillis + " ms on average"
                    + "\nlibmosquitto (client-side): " + all.secondCopies() + " QoS 2 PUBLISH resends (DUP, same packet id,"
                    + " their PUBREC not yet durable at the kill) kept as second copies; handed to the application"
                    + " again: " + all.secondCopyDeliveries() + " (not counted above as QoS 2 duplicates); handed over"
                    + " late (not judged for order): " + all.lateDeliveries() + "; messages never handed over,"
                    + " stuck behind such copies, per topic: " + stuck + "; received by a mosquitto_sub after its own"
                    + " DISCONNECT (acknowledged, never printed), per subscriber and topic: " + swallowed
                    + " (together they explain " + explained + " of the " + v.lost() + " lost)"
                    + "\nlost attributable to the broker: " + brokerLost
                    + "\nseed " + seed + ", work folder " + work + "\n";
            System.out.println(report);
            Files.writeString(ChaosIT.workRoot().resolve("verdicts.txt"), report + "\n", StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
            assertEquals(0, broker.terminate(), "broker exit status after SIGTERM");
            assertTrue(v.acknowledged() >= 200, "enough acknowledged traffic to mean something:\n" + report);
            assertEquals(0, brokerLost, "acknowledged messages lost:\n" + report);
            assertEquals(0, v.qos2Duplicates(), "QoS 2 messages delivered twice:\n" + report);
            assertEquals(0, v.orderViolations(), "order violations:\n" + report);
            assertEquals(0, v.anomalies(), "anomalies:\n" + report);
        } finally {
            for (MosquittoPublisher p : pubs) {
                p.stop();
            }
            for (MosquittoSub s : subs) {
                s.stop();
            }
        }
    }

    /** One mosquitto_pub process per message, one after the other, on its own thread. */
    static final class MosquittoPublisher {
        final String name;
        final int qos;
        final String topic;
        final Ledger ledger;
        final java.util.function.IntSupplier port;
        final AtomicLong nonZeroExits = new AtomicLong();
        final AtomicLong okNanos = new AtomicLong();
        final Path log;
        private final Thread thread;
        private volatile boolean running = true;

        MosquittoPublisher(String name, int qos, String topic, Ledger ledger, java.util.function.IntSupplier port,
                           Path workDir) {
            this.log = workDir.resolve(name + ".log");
            this.name = name;
            this.qos = qos;
            this.topic = topic;
            this.ledger = ledger;
            this.port = port;
            thread = new Thread(this::run, name);
            thread.setDaemon(true);
        }

        void start() {
            thread.start();
        }

        private void run() {
            long seq = 1;
            while (running) {
                MsgId id = new MsgId(name, seq++);
                ledger.sent(id, topic, qos);
                try {
                    // a fresh client id per process: a clean session, so no packet id of an
                    // earlier, unfinished process can be mistaken for this message
                    Process p = new ProcessBuilder("mosquitto_pub", "-h", "127.0.0.1", "-p",
                            Integer.toString(port.getAsInt()), "-i", name + "-" + id.seq(), "-q", Integer.toString(qos),
                            "-t", topic, "-m", new String(id.payload(0), java.nio.charset.StandardCharsets.UTF_8))
                            .redirectErrorStream(true)
                            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                            .start();
                    long started = System.nanoTime();
                    if (!p.waitFor(10, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                        p.waitFor(10, TimeUnit.SECONDS);
                        nonZeroExits.incrementAndGet();
                    } else if (p.exitValue() == 0) {
                        ledger.acknowledged(id);
                        okNanos.addAndGet(System.nanoTime() - started);
                    } else {
                        nonZeroExits.incrementAndGet();
                        Thread.sleep(250); // the broker is down: spawning in a tight loop would starve its restart

                    }
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    ledger.anomaly(name + ": " + e);
                }
            }
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join(15_000);
        }
    }
}
