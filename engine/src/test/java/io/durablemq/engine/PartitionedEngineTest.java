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
import java.time.Duration;
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

    /**
     * A publish that fails inside its routing while it holds three of the four partitions (its
     * own and its two subscribers'): it cannot drop the image itself, so the sweeper does it under
     * every partition's lock (OperationGuard). Afterwards the engine is back, the failed publish
     * left nothing (its resend is routed, not a duplicate), each subscriber gets each message once,
     * the image equals what recovery rebuilds, and StoreVerifier finds the store clean.
     */
    @Test
    @Timeout(120)
    void aPublishFailingWhileItHoldsSomePartitionsResetsTheWholeEngine() throws Exception {
        List<String> ids = distinctPartitions(3); // publisher, subscriber a, subscriber b
        String pub = ids.get(0);
        List<String> subs = ids.subList(1, 3);
        io.durablemq.engine.support.InjectedRoutingFault fault = new io.durablemq.engine.support.InjectedRoutingFault();
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withPartitions(PARTITIONS).withCommitFaults(fault))) {
            Map<String, RecordingListener> listeners = new HashMap<>();
            for (String id : subs) {
                RecordingListener l = new RecordingListener();
                SessionHandle h = await(fx.engine().connect(new ConnectRequest(id, false, 3600, 65_535), l));
                await(h.subscribe(List.of(Subscription.of("f/x", 2))));
                listeners.put(id, l);
            }
            RecordingListener pubEvents = new RecordingListener();
            SessionHandle p = await(fx.engine().connect(new ConnectRequest(pub, false, 3600, 65_535), pubEvents));
            assertEquals(PublishResult.Status.ACCEPTED, await(p.publish(1, qos2("m1"))).status());
            await(p.release(1));

            fault.arm(1, () -> new IllegalStateException("injected: routing fails after the first subscriber's entry"));
            java.util.concurrent.ExecutionException failed = org.junit.jupiter.api.Assertions.assertThrows(
                    java.util.concurrent.ExecutionException.class, () -> p.publish(2, qos2("m2")).get(10, TimeUnit.SECONDS));
            assertTrue(failed.getCause() instanceof EngineOperationException, failed.toString());
            assertTrue(fault.fired());
            awaitReset(fx.engine(), pubEvents);

            Map<String, SessionHandle> handles = new HashMap<>();
            for (String id : subs) {
                RecordingListener l = new RecordingListener();
                SessionHandle h = await(fx.engine().connect(new ConnectRequest(id, false, 3600, 65_535), l));
                h.startDelivery();
                handles.put(id, h);
                listeners.put(id, l);
            }
            SessionHandle again = await(fx.engine().connect(new ConnectRequest(pub, false, 3600, 65_535), new RecordingListener()));
            again.startDelivery();
            assertEquals(PublishResult.Status.ACCEPTED, await(again.publish(2, qos2("m2"))).status(), "the failed publish left nothing");
            await(again.release(2));
            for (String id : subs) {
                assertEquals(List.of("m1", "m2"), drainQos2(handles.get(id), listeners.get(id)), id + " got each message once");
            }
            awaitQuiet(fx.engine());
            assertEquals(0, fx.engine().stats().storedBodies(), "every body released after the last PUBCOMP");
            Map<String, String> before = images(fx.engine(), ids);
            fx.restart();
            assertEquals(before, images(fx.engine(), ids), "every session as recovery rebuilds it");
            fx.engine().close();
            VerifyReport report = StoreVerifier.verify(dir);
            assertTrue(report.ok(), "store verifies: " + report.problems());
            fx.restart();
        }
    }

    private static Message qos2(String payload) {
        return Message.of("f/x", payload.getBytes(StandardCharsets.UTF_8), 2);
    }

    /** {@code n} client ids in {@code n} different partitions. */
    private static List<String> distinctPartitions(int n) {
        List<String> out = new ArrayList<>();
        Set<Integer> used = new HashSet<>();
        for (int i = 0; out.size() < n && i < 1000; i++) {
            String id = "c-" + i;
            if (used.add(PartitionLocks.partitionOf(id, PARTITIONS))) {
                out.add(id);
            }
        }
        assertEquals(n, out.size());
        return out;
    }

    /** The publisher is told ENGINE_RESET (the sweeper dropped the image) and the engine commits again (bounded). */
    private static void awaitReset(Engine engine, RecordingListener pubEvents) throws InterruptedException {
        RecordingListener.Event e = pubEvents.next(Duration.ofSeconds(20));
        while (e.closed() == null) {
            e = pubEvents.next(Duration.ofSeconds(20));
        }
        assertEquals(io.durablemq.engine.session.SessionListener.CloseReason.ENGINE_RESET, e.closed());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!engine.isCommitting() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(engine.isCommitting(), "the engine came back within 30 s");
    }

    /** A QoS 2 client's receive: PUBREC each PUBLISH, PUBCOMP each PUBREL, until 500 ms pass quietly. */
    private static List<String> drainQos2(SessionHandle h, RecordingListener l) {
        List<String> got = new ArrayList<>();
        while (true) {
            RecordingListener.Event e;
            try {
                e = l.next(Duration.ofMillis(500));
            } catch (AssertionError quiet) {
                return got;
            }
            if (e.isPublish()) {
                got.add(new String(e.publish().message().payload(), StandardCharsets.UTF_8));
                await(h.pubrec(e.publish().packetId()));
            } else if (e.isPubrel()) {
                await(h.pubcomp(e.pubrel()));
            }
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
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < SUBSCRIBERS; i++) {
            ids.add(sub(i));
        }
        for (int p = 0; p < PUBLISHERS; p++) {
            ids.add("pub-" + p);
        }
        return images(engine, ids);
    }

    private static Map<String, String> images(Engine engine, List<String> ids) {
        Map<String, String> out = new HashMap<>();
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
