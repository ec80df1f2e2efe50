package io.durablemq.broker;

import io.durablemq.broker.config.Limits;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttVersion;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A QoS 1 shared-subscription member (MQTT 3.1.1, clean session off) that leaves with a full
 * in-flight window it never acknowledged and a queue behind it (longer than the head a session
 * keeps in memory, so it is read back in pages), then comes back: every message the publisher got
 * a PUBACK for reaches the group. With the broker restarted in between (RocksDB on disk, same
 * folder), without a restart, while a publisher bursts, and with the member flipping offline and
 * online many times, each time reading part of its window and acknowledging only some of it.
 *
 * <p>The member that holds acknowledgements is a bare socket client ({@link RawMqttClient}): only
 * what it acknowledged counts as delivered; everything it saw without acknowledging must come
 * again. The final collection is by Paho 3.1.1 clients with clean session off. Written for the
 * PowerCutIT failure where member g-2 ended with 383 in-flight entries PUBLISH_SENT and 741 queued
 * (mqtt-adapter/README.md, "Shared subscriptions", "A member that resumes").
 * {@code -Dshared.resume.rounds=N} repeats each scenario N times (default 2).
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class SharedMemberResumeTest {
    private static final String FILTER = "$share/g/resume/#";
    /** A small window: the head in memory is max(2 x 20, 64) online and 64 offline, so most of the queue is paged. */
    private static final int WINDOW = 20;
    private static final int ROUNDS = Integer.getInteger("shared.resume.rounds", 2);

    @TempDir
    Path work;

    @Test
    void memberWithFullWindowAndQueueGetsEverythingAfterRestart() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            long seed = System.nanoTime();
            run("restart-" + round, seed, true, false, 0);
        }
    }

    @Test
    void memberWithFullWindowAndQueueGetsEverythingWithoutRestart() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            long seed = System.nanoTime();
            run("no-restart-" + round, seed, false, false, 0);
        }
    }

    @Test
    void memberFlippingDuringPublisherBurstGetsEverything() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            long seed = System.nanoTime();
            run("flip-" + round, seed, round % 2 == 0, true, 12);
        }
    }

    /**
     * One scenario. {@code restart}: the broker is closed and opened again on the same folder
     * before the member's last return. {@code burstWhileFlipping}: the publisher runs on its own
     * thread while the member flips {@code flips} times (reconnecting at once, while page reads
     * for its queue are under way).
     */
    private void run(String name, long seed, boolean restart, boolean burstWhileFlipping, int flips) throws Exception {
        Random random = new Random(seed);
        String why = name + " (seed " + seed + ")";
        Path data = work.resolve(name);
        Limits limits = Limits.defaults().toBuilder().maxInflight(WINDOW).build();
        BrokerServer broker = TestBrokers.start(TestBrokers.config(data, limits));
        Set<String> delivered = ConcurrentHashMap.newKeySet();
        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        try {
            // Both members subscribe, then g-1 leaves: g-2 is the one member that can take messages now.
            try (PahoV3 g1 = PahoV3.connect(TestBrokers.tcpUri(broker), "g-1", false)) {
                g1.client.subscribe(FILTER, 1);
            }
            int total = burstWhileFlipping ? 1_500 : 600;
            if (!burstWhileFlipping) {
                try (RawMqttClient g2 = rawMember(broker)) {
                    try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "pub", true)) {
                        for (int i = 0; i < total; i++) {
                            pub.publish("resume/" + (i % 3), "m" + i, 1); // returns with the PUBACK
                            acknowledged.add("m" + i);
                        }
                    }
                    // The window is full (WINDOW PUBLISHes sent, none acknowledged) and the rest queued behind it.
                    int seen = readWithoutAck(g2, WINDOW, 10_000);
                    assertEquals(WINDOW, seen, why + ": a full window sent to g-2 before it leaves");
                }
            } else {
                AtomicBoolean stop = new AtomicBoolean();
                AtomicInteger published = new AtomicInteger();
                Thread publisher = publisherThread(broker, total, acknowledged, published, stop);
                publisher.start();
                try {
                    for (int f = 0; f < flips && publisher.isAlive(); f++) {
                        try (RawMqttClient g2 = rawMember(broker)) {
                            // Part of the window read, a random part of that acknowledged, then gone.
                            readSome(g2, random.nextInt(2 * WINDOW), random, delivered, 2_000);
                        }
                        if (random.nextInt(3) == 0) {
                            Thread.sleep(random.nextInt(50)); // sometimes offline while messages queue, sometimes back at once
                        }
                    }
                } finally {
                    publisher.join(120_000);
                    stop.set(true);
                }
                assertTrue(!publisher.isAlive(), why + ": publisher finished");
                assertEquals(total, published.get(), why + ": every publish acknowledged");
            }
            if (restart) {
                broker.close();
                broker = TestBrokers.start(TestBrokers.config(data, limits));
            }
            try (PahoV3 g2 = new PahoV3(TestBrokers.tcpUri(broker), "g-2");
                 PahoV3 g1 = new PahoV3(TestBrokers.tcpUri(broker), "g-1")) {
                g2.connect(false);
                g1.connect(false);
                collect(acknowledged, delivered, 60_000, g1, g2);
            }
            Set<String> missing = new TreeSet<>(acknowledged);
            missing.removeAll(delivered);
            assertEquals(Set.of(), missing.size() > 20 ? Set.of(missing.size() + " missing, first "
                    + missing.stream().limit(20).toList()) : missing, why + ": acknowledged but never reached group g");
        } finally {
            broker.close();
        }
    }

    /** g-2 as a bare MQTT 3.1.1 client, clean session off, subscribed to the group (again: the subscription is kept). */
    private static RawMqttClient rawMember(BrokerServer broker) throws IOException {
        RawMqttClient c = new RawMqttClient(broker.mqttPort());
        c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "g-2", false, 60));
        c.send(RawMqttClient.subscribe(1, FILTER, 1));
        assertNotNull(c.receive(MqttMessageType.SUBACK, 10_000), "SUBACK for g-2");
        return c;
    }

    /** Reads up to {@code n} PUBLISHes without acknowledging any; returns how many came. */
    private static int readWithoutAck(RawMqttClient c, int n, long millis) throws IOException {
        int seen = 0;
        long deadline = System.currentTimeMillis() + millis;
        while (seen < n && System.currentTimeMillis() < deadline) {
            MqttMessage m = c.receive(Math.max(1, deadline - System.currentTimeMillis()));
            if (m == null) {
                break;
            }
            if (m instanceof MqttPublishMessage) {
                seen++;
            }
            ReferenceCountUtil.release(m);
        }
        return seen;
    }

    /** Reads up to {@code n} PUBLISHes, acknowledging each with probability 1/2: only those count as delivered. */
    private static void readSome(RawMqttClient c, int n, Random random, Set<String> delivered, long millis)
            throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        int seen = 0;
        while (seen < n && System.currentTimeMillis() < deadline) {
            MqttMessage m = c.receive(Math.max(1, deadline - System.currentTimeMillis()));
            if (m == null) {
                return;
            }
            if (m instanceof MqttPublishMessage p) {
                seen++;
                if (random.nextBoolean()) {
                    delivered.add(p.payload().toString(StandardCharsets.UTF_8));
                    c.send(RawMqttClient.ack(MqttMessageType.PUBACK, p.variableHeader().packetId()));
                }
            }
            ReferenceCountUtil.release(m);
        }
    }

    private static Thread publisherThread(BrokerServer broker, int total, Set<String> acknowledged,
                                          AtomicInteger published, AtomicBoolean stop) {
        Thread t = new Thread(() -> {
            try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "pub", true)) {
                for (int i = 0; i < total && !stop.get(); i++) {
                    pub.publish("resume/" + (i % 3), "m" + i, 1);
                    acknowledged.add("m" + i);
                    published.incrementAndGet();
                }
            } catch (Exception e) {
                throw new IllegalStateException("publisher failed", e);
            }
        }, "resume-publisher");
        t.setDaemon(true);
        return t;
    }

    /** Takes what the Paho members receive until every acknowledged message arrived or nothing came for {@code quietMillis}. */
    private static void collect(Set<String> acknowledged, Set<String> delivered, long quietMillis, PahoV3... members)
            throws InterruptedException {
        long lastProgress = System.currentTimeMillis();
        while (!delivered.containsAll(acknowledged) && System.currentTimeMillis() - lastProgress < quietMillis) {
            boolean progress = false;
            for (PahoV3 m : members) {
                PahoV3.Received r;
                while ((r = m.next(progress ? 0 : 20)) != null) {
                    progress |= delivered.add(r.payload());
                }
            }
            if (progress) {
                lastProgress = System.currentTimeMillis();
            }
        }
    }
}
