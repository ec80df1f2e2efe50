package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The broker with {@code engine_partitions 4} (engine/README.md, "The partitioned engine"), through real
 * Paho 3.1.1 clients on loopback: eight publishers on their own threads (their sessions in different
 * partitions, so their publishes run in parallel up to the commit) fan out QoS 1 and QoS 2 messages to
 * subscribers in other partitions: three online, one offline for the whole run (its queue filled by
 * publishes from every partition), and a shared group of two members (a publish to it locks every
 * partition). Every subscriber gets every message, each QoS 2 message once, in each publisher's order per QoS;
 * after a graceful restart (recovery places every session again by its hash) nothing of QoS 2 comes twice
 * and a new message reaches every session. The engine-level proofs at P = 4 are {@code PartitionedEngineTest},
 * {@code EngineModelTest} and {@code EngineCrashTest}; this one checks the broker drives them right.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PartitionedBrokerTest {
    private static final int PUBLISHERS = 8;
    private static final int PER_PUBLISHER = 150;
    private static final int TOTAL = PUBLISHERS * PER_PUBLISHER;
    private static final String[] ONLINE = {"part-sub-a", "part-sub-b", "part-sub-c"};
    private static final String OFFLINE = "part-sub-offline";
    private static final String[] SHARED = {"part-member-1", "part-member-2"};

    @TempDir
    Path data;
    private BrokerServer broker;
    private final List<PahoV3> clients = new ArrayList<>();

    @AfterEach
    void stop() {
        clients.forEach(PahoV3::close);
        if (broker != null) {
            broker.close();
        }
    }

    private BrokerConfig config() {
        return TestBrokers.config(data).toBuilder().enginePartitions(4).build();
    }

    private PahoV3 connect(String id, boolean cleanSession) throws Exception {
        PahoV3 c = PahoV3.connect(TestBrokers.tcpUri(broker), id, cleanSession);
        clients.add(c);
        return c;
    }

    /** QoS 2 for even sequence numbers, QoS 1 for odd ones: both kinds from every publisher. */
    private static int qosOf(int seq) {
        return seq % 2 == 0 ? 2 : 1;
    }

    @Test
    void publishersInEveryPartitionReachEverySubscriberOnceInOrder() throws Exception {
        broker = TestBrokers.start(config());
        List<PahoV3> online = new ArrayList<>();
        for (String id : ONLINE) {
            PahoV3 s = connect(id, false);
            s.client.subscribe("part/#", 2);
            online.add(s);
        }
        PahoV3 offline = connect(OFFLINE, false);
        offline.client.subscribe("part/#", 2);
        offline.close(); // its session stays and queues
        List<PahoV3> members = new ArrayList<>();
        for (String id : SHARED) {
            PahoV3 m = connect(id, true);
            m.client.subscribe("$share/g/part/#", 2);
            members.add(m);
        }

        publishInParallel();

        for (PahoV3 s : online) {
            checkEveryMessageOnceInOrder(s, "online subscriber");
        }
        PahoV3 back = connect(OFFLINE, false);
        checkEveryMessageOnceInOrder(back, "offline subscriber, reconnected");
        checkSharedGroupGotEachMessage(members);

        // Graceful restart: recovery places every session in its partition again.
        for (PahoV3 c : clients) {
            c.close();
        }
        clients.clear();
        broker.close();
        broker = TestBrokers.start(config());
        List<PahoV3> resumed = new ArrayList<>();
        for (String id : ONLINE) {
            resumed.add(connect(id, false));
        }
        resumed.add(connect(OFFLINE, false));
        try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "part-pub-after", true)) {
            pub.publish("part/after", "after", 2);
        }
        for (PahoV3 s : resumed) {
            List<PahoV3.Received> got = s.take(1, 10_000);
            while (got.stream().noneMatch(r -> r.payload().equals("after"))) {
                PahoV3.Received r = s.next(10_000);
                if (r == null) {
                    fail(s.client.getClientId() + " did not get the message published after the restart");
                }
                got.add(r);
            }
            for (PahoV3.Received r : got) {
                assertTrue(r.qos() < 2 || r.payload().equals("after"),
                        s.client.getClientId() + " got a QoS 2 message again after the restart: " + r);
            }
        }
    }

    private void publishInParallel() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(PUBLISHERS);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int p = 0; p < PUBLISHERS; p++) {
                int publisher = p;
                done.add(pool.submit(() -> {
                    try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "part-pub-" + publisher, true)) {
                        for (int seq = 0; seq < PER_PUBLISHER; seq++) {
                            // synchronous: returns once acknowledged, so a publisher's messages are routed in order
                            pub.publish("part/" + publisher, publisher + ":" + seq, qosOf(seq));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(90, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Every message at least once, each QoS 2 one exactly once, each publisher's messages of one QoS in
     * its order (MQTT 3.1.1 section 4.6 orders a publisher's messages per topic and QoS; across QoS levels
     * Paho reorders by itself: it hands a QoS 2 message to the callback only at PUBREL, a round trip
     * after the PUBLISH, so a QoS 1 message sent after it can reach the callback first).
     */
    private static void checkEveryMessageOnceInOrder(PahoV3 s, String who) throws Exception {
        Map<String, Integer> seen = new HashMap<>();
        int[][] lastSeq = new int[PUBLISHERS][3];
        for (int[] perQos : lastSeq) {
            java.util.Arrays.fill(perQos, -1);
        }
        long deadline = System.currentTimeMillis() + 30_000;
        while (seen.size() < TOTAL && System.currentTimeMillis() < deadline) {
            PahoV3.Received r = s.next(1_000);
            if (r == null) {
                continue;
            }
            int count = seen.merge(r.payload(), 1, Integer::sum);
            String[] parts = r.payload().split(":");
            int publisher = Integer.parseInt(parts[0]);
            int seq = Integer.parseInt(parts[1]);
            if (count > 1) {
                assertEquals(1, qosOf(seq), who + " got a QoS 2 message twice: " + r);
                continue;
            }
            int qos = qosOf(seq);
            assertTrue(seq > lastSeq[publisher][qos], who + " got publisher " + publisher + "'s QoS " + qos
                    + " message " + seq + " after its message " + lastSeq[publisher][qos]);
            lastSeq[publisher][qos] = seq;
        }
        assertEquals(TOTAL, seen.size(), who + " got " + seen.size() + " of " + TOTAL + " messages");
    }

    /** The group's members together got every message, each QoS 2 one by one member once. */
    private static void checkSharedGroupGotEachMessage(List<PahoV3> members) throws Exception {
        Map<String, Integer> seen = new HashMap<>();
        long deadline = System.currentTimeMillis() + 30_000;
        while (seen.size() < TOTAL && System.currentTimeMillis() < deadline) {
            for (PahoV3 m : members) {
                PahoV3.Received r;
                while ((r = m.next(50)) != null) {
                    int count = seen.merge(r.payload(), 1, Integer::sum);
                    if (count > 1) {
                        assertEquals(1, qosOf(Integer.parseInt(r.payload().split(":")[1])),
                                "the shared group got a QoS 2 message twice: " + r);
                    }
                }
            }
        }
        assertEquals(TOTAL, seen.size(), "the shared group got " + seen.size() + " of " + TOTAL + " messages");
    }
}
