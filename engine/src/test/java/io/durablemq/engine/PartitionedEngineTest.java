package io.durablemq.engine;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.topic.Subscription;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The partitioned engine (engine/README.md, "The partitioned engine: design") with four
 * partitions on a real RocksDB store: four publishers on four threads publish QoS 2 to topics
 * whose two subscribers sit in other partitions (so each publish locks a set of partitions that
 * overlaps other publishes' sets), while four other threads acknowledge for eight subscribers
 * (PUBREC, then PUBCOMP after the engine's PUBREL), each on its session's partition only. Then:
 * every accepted message reached each of its subscribers exactly once, the counters summed over
 * partitions are 0, the image equals what recovery rebuilds from the store (every session as
 * seen before a restart and after it), and StoreVerifier finds the store clean.
 */
class PartitionedEngineTest {
    private static final int PARTITIONS = 4;
    private static final int SUBSCRIBERS = 8;
    private static final int PUBLISHERS = 4;
    private static final int PER_PUBLISHER = 250;

    @TempDir
    Path dir;

    @Test
    @Timeout(180)
    void publishesAcrossPartitionsOnFourThreadsDeliverEachQos2MessageOnceAndLeaveAConsistentStore() throws Exception {
        Set<Integer> subscriberPartitions = new HashSet<>();
        for (int i = 0; i < SUBSCRIBERS; i++) {
            subscriberPartitions.add(PartitionLocks.partitionOf(sub(i), PARTITIONS));
        }
        assertTrue(subscriberPartitions.size() >= 3, "the subscribers spread over partitions: " + subscriberPartitions);

        try (EngineFixture fx = new EngineFixture(dir, c -> c.withPartitions(PARTITIONS).withMaxInflight(16))) {
            Engine engine = fx.engine();
            // Subscriber i gets topics t/i and t/(i+1): every topic has two subscribers, often in two partitions.
            Map<String, SessionHandle> subHandles = new HashMap<>();
            Map<String, RecordingListener> subEvents = new HashMap<>();
            for (int i = 0; i < SUBSCRIBERS; i++) {
                RecordingListener l = new RecordingListener();
                SessionHandle h = await(engine.connect(new ConnectRequest(sub(i), false, 3600, 65_535), l));
                await(h.subscribe(List.of(Subscription.of("t/" + i, 2), Subscription.of("t/" + ((i + 1) % SUBSCRIBERS), 2))));
                h.startDelivery();
                subHandles.put(sub(i), h);
                subEvents.put(sub(i), l);
            }

            Map<String, Set<String>> received = new ConcurrentHashMap<>(); // subscriber -> payloads
            Map<String, List<String>> duplicates = new ConcurrentHashMap<>();
            AtomicBoolean publishing = new AtomicBoolean(true);
            ExecutorService threads = Executors.newFixedThreadPool(PUBLISHERS + SUBSCRIBERS / 2);
            List<Future<List<String>>> publishers = new ArrayList<>();
            for (int p = 0; p < PUBLISHERS; p++) {
                String pub = "pub-" + p;
                publishers.add(threads.submit(() -> publish(engine, pub)));
            }
            List<Future<?>> ackers = new ArrayList<>();
            for (int a = 0; a < SUBSCRIBERS / 2; a++) {
                List<String> mine = List.of(sub(2 * a), sub(2 * a + 1));
                ackers.add(threads.submit(() -> {
                    acknowledge(mine, subHandles, subEvents, received, duplicates, publishing);
                    return null;
                }));
            }
            Map<String, Set<String>> expected = new HashMap<>();
            for (Future<List<String>> f : publishers) {
                for (String payload : f.get(150, TimeUnit.SECONDS)) {
                    int topic = Integer.parseInt(payload.substring(0, payload.indexOf(':')));
                    expected.computeIfAbsent(sub(topic), k -> new HashSet<>()).add(payload);
                    expected.computeIfAbsent(sub((topic + SUBSCRIBERS - 1) % SUBSCRIBERS), k -> new HashSet<>()).add(payload);
                }
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!allReceived(expected, received) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            publishing.set(false);
            for (Future<?> f : ackers) {
                f.get(30, TimeUnit.SECONDS);
            }
            threads.shutdown();

            assertEquals(Map.of(), duplicates, "no QoS 2 message delivered twice");
            for (int i = 0; i < SUBSCRIBERS; i++) {
                assertEquals(expected.getOrDefault(sub(i), Set.of()), received.getOrDefault(sub(i), Set.of()),
                        sub(i) + " got every message published to its topics, once");
            }
            assertEquals(PUBLISHERS * PER_PUBLISHER * 2, received.values().stream().mapToInt(Set::size).sum());
            awaitQuiet(engine);
            assertEquals(0, engine.stats().queuedMessages(), "the per-partition counters sum to nothing queued");
            assertEquals(0, engine.stats().inflightMessages(), "nothing in flight");
            assertEquals(0, engine.stats().storedBodies(), "every body released after the last PUBCOMP");

            // Invariant 5: the image equals what recovery rebuilds from the store.
            Map<String, String> before = images(engine);
            fx.restart();
            assertEquals(before, images(fx.engine()), "every session as recovery rebuilds it");
            fx.engine().close();
            VerifyReport report = StoreVerifier.verify(dir);
            assertTrue(report.ok(), "store verifies: " + report.problems());
            fx.restart(); // the fixture closes an open engine
        }
    }

    private static String sub(int i) {
        return "sub-" + i;
    }

    /** One publisher: QoS 2 to t/0..t/7 in turn, each PUBRELed once accepted; returns the accepted payloads. */
    private static List<String> publish(Engine engine, String pub) {
        RecordingListener l = new RecordingListener();
        SessionHandle h = await(engine.connect(new ConnectRequest(pub, false, 3600, 65_535), l));
        h.startDelivery();
        List<String> accepted = new ArrayList<>();
        for (int n = 0; n < PER_PUBLISHER; n++) {
            int topic = (n + pub.hashCode()) & (SUBSCRIBERS - 1);
            String payload = topic + ":" + pub + ":" + n;
            int packetId = n % 60_000 + 1;
            PublishResult r = await(h.publish(packetId, Message.of("t/" + topic, payload.getBytes(StandardCharsets.UTF_8), 2)));
            assertEquals(PublishResult.Status.ACCEPTED, r.status(), payload);
            assertEquals(2, r.matchedSessions(), payload + ": its two subscribers");
            accepted.add(payload);
            await(h.release(packetId));
        }
        return accepted;
    }

    /** Acknowledges for {@code mine}, as a QoS 2 client does: PUBREC for a PUBLISH, PUBCOMP for a PUBREL. */
    private static void acknowledge(List<String> mine, Map<String, SessionHandle> handles,
                                    Map<String, RecordingListener> events, Map<String, Set<String>> received,
                                    Map<String, List<String>> duplicates, AtomicBoolean publishing) {
        long quietSince = System.nanoTime();
        while (publishing.get() || System.nanoTime() - quietSince < TimeUnit.MILLISECONDS.toNanos(300)) {
            boolean any = false;
            for (String id : mine) {
                for (RecordingListener.Event e : events.get(id).drain()) {
                    any = true;
                    if (e.isPublish()) {
                        String payload = new String(e.publish().message().payload(), StandardCharsets.UTF_8);
                        if (!received.computeIfAbsent(id, k -> ConcurrentHashMap.newKeySet()).add(payload)) {
                            duplicates.computeIfAbsent(id, k -> new ArrayList<>()).add(payload);
                        }
                        await(handles.get(id).pubrec(e.publish().packetId()));
                    } else if (e.isPubrel()) {
                        await(handles.get(id).pubcomp(e.pubrel()));
                    }
                }
            }
            if (any) {
                quietSince = System.nanoTime();
            } else {
                try {
                    Thread.sleep(2);
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private static boolean allReceived(Map<String, Set<String>> expected, Map<String, Set<String>> received) {
        for (Map.Entry<String, Set<String>> e : expected.entrySet()) {
            if (!received.getOrDefault(e.getKey(), Set.of()).containsAll(e.getValue())) {
                return false;
            }
        }
        return true;
    }

    /** The last PUBCOMPs' batch commits: the counters reach 0 (bounded). */
    private static void awaitQuiet(Engine engine) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while ((engine.stats().inflightMessages() != 0 || engine.stats().storedBodies() != 0)
                && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }

    /** Every session's durable state (not whether it is online), by client id. */
    private static Map<String, String> images(Engine engine) {
        Map<String, String> out = new HashMap<>();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < SUBSCRIBERS; i++) {
            ids.add(sub(i));
        }
        for (int p = 0; p < PUBLISHERS; p++) {
            ids.add("pub-" + p);
        }
        for (String id : ids) {
            var s = engine.session(id);
            out.put(id, s == null ? "none" : "expiry=" + s.expirySeconds() + " subscriptions=" + s.subscriptions()
                    + " queued=" + s.queuedMessages() + "/" + s.queuedBytes() + " inflight=" + s.inflight()
                    + " qos2Received=" + s.qos2Received());
        }
        out.put("stats", "queued=" + engine.stats().queuedMessages() + " inflight=" + engine.stats().inflightMessages()
                + " bodies=" + engine.stats().storedBodies() + " sessions=" + (engine.stats().onlineSessions()
                + engine.stats().offlineSessions()));
        return out;
    }
}
