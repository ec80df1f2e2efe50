package io.durablemq.broker;

import io.durablemq.broker.config.BackpressureLimits;
import io.durablemq.broker.config.Limits;
import io.durablemq.engine.SessionSnapshot;
import io.micrometer.core.instrument.MeterRegistry;
import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.MqttMessage;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Back-pressure with real Paho clients on loopback: a subscriber that stops acknowledging makes
 * its publishers pause (their sockets are not read) instead of its queue growing, they resume
 * when it catches up or goes offline, nothing acknowledged is lost, and a client is never paused
 * for its own subscription. Asserts on the engine's session queue and the broker's metrics,
 * never on time; every wait is bounded.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BackpressureTest {
    private static final int HIGH = 100;
    private static final int LOW = 50;
    private static final int PUBLISHERS = 8;
    /**
     * More than the watermark plus the window, so no publisher can finish before the queue
     * reaches the watermark: each one is still publishing, hence paused, once it is there.
     */
    private static final int PER_PUBLISHER = 2 * HIGH;
    /** Long, so that in these tests only draining, going offline or closing resumes a publisher. */
    private static final Duration MAX_PAUSE = Duration.ofSeconds(60);

    private static BrokerServer start(Path data) throws Exception {
        // A small outbound window so that a subscriber that stops acknowledging soon has a queue.
        Limits limits = Limits.defaults().toBuilder().maxInflight(10)
                .backpressure(new BackpressureLimits(HIGH, LOW, MAX_PAUSE)).build();
        return TestBrokers.start(TestBrokers.config(data, limits));
    }

    @ParameterizedTest(name = "QoS {0}")
    @ValueSource(ints = {1, 2})
    void fanInToASubscriberThatStopsAcknowledgingPausesItsPublishersAndLosesNothing(int qos, @TempDir Path data)
            throws Exception {
        try (BrokerServer broker = start(data);
             SlowSubscriber subscriber = new SlowSubscriber(TestBrokers.tcpUri(broker), "bp-sub", true)) {
            subscriber.subscribe("fanin/#", qos);
            QueueWatch watch = new QueueWatch(broker, "bp-sub");
            ExecutorService pool = Executors.newFixedThreadPool(PUBLISHERS);
            try {
                List<Future<?>> publishers = startPublishers(pool, TestBrokers.tcpUri(broker), "fanin", qos);

                // Every publisher ends up paused: each has more to send than the watermark allows.
                awaitTrue(() -> throttled(broker) == PUBLISHERS, "all " + PUBLISHERS + " publishers paused", broker);
                int queuedWhilePaused = watch.queued();
                assertTrue(queuedWhilePaused >= HIGH, "the queue reached the high watermark: " + queuedWhilePaused);

                subscriber.catchUp();
                for (Future<?> p : publishers) {
                    p.get(120, TimeUnit.SECONDS);
                }
                awaitTrue(() -> subscriber.distinct() == PUBLISHERS * PER_PUBLISHER, "every message received", broker);
                awaitTrue(() -> throttled(broker) == 0, "no publisher paused after the catch-up", broker);
            } finally {
                pool.shutdownNow();
                watch.close();
            }
            // One publish per publisher may be routed after the one that crossed the watermark
            // (it was in flight when reading stopped), and one more while its result was committing.
            int bound = HIGH + 2 * PUBLISHERS;
            assertTrue(watch.max() <= bound, "queue stayed near the watermark: max " + watch.max() + " > " + bound);
            assertTrue(count(broker, "durablemq.publisher.pauses") >= PUBLISHERS, "pauses counted");
            assertTrue(resumes(broker, "drained") >= 1, "resumed because the subscriber drained");
            assertEquals(PUBLISHERS * PER_PUBLISHER, subscriber.distinct(), "every acknowledged message delivered");
            if (qos == 2) {
                assertEquals(0, subscriber.duplicates(), "QoS 2 delivered exactly once");
            }
        }
    }

    @Test
    void aClientThatPublishesToItsOwnSlowSubscriptionIsNeverPaused(@TempDir Path data) throws Exception {
        try (BrokerServer broker = start(data);
             SlowSubscriber self = new SlowSubscriber(TestBrokers.tcpUri(broker), "bp-self", true)) {
            self.subscribe("self/#", 1);
            int total = 3 * HIGH;
            for (int i = 0; i < total; i++) {
                // Would block until MAX_PAUSE (then fail Paho's 10 s wait) if the client were
                // paused for its own queue: its acknowledgements could not be read to drain it.
                self.client.publish("self/x", ("self-" + i).getBytes(StandardCharsets.UTF_8), 1, false);
            }
            int queued = broker.engine().session("bp-self").queuedMessages();
            assertTrue(queued > HIGH, "its own queue went over the watermark: " + queued);
            assertEquals(0, throttled(broker), "never paused for its own queue");
            assertEquals(0.0, count(broker, "durablemq.publisher.pauses"), "no pause at all");
            self.catchUp();
            awaitTrue(() -> self.distinct() == total, "all its own messages received", broker);
        }
    }

    @Test
    void aSubscriberThatDisconnectsReleasesItsPublishers(@TempDir Path data) throws Exception {
        String uri;
        try (BrokerServer broker = start(data)) {
            uri = TestBrokers.tcpUri(broker);
            SlowSubscriber subscriber = new SlowSubscriber(uri, "bp-leaver", false);
            subscriber.subscribe("leave/#", 1);
            ExecutorService pool = Executors.newFixedThreadPool(PUBLISHERS);
            try {
                List<Future<?>> publishers = startPublishers(pool, uri, "leave", 1);
                awaitTrue(() -> throttled(broker) > 0, "a publisher paused", broker);
                subscriber.client.disconnectForcibly(1_000, 1_000);
                subscriber.close();
                // Offline now: its queue fills to the queue limits as before, nobody waits on it.
                for (Future<?> p : publishers) {
                    p.get(120, TimeUnit.SECONDS);
                }
                awaitTrue(() -> throttled(broker) == 0, "no publisher paused once the subscriber left", broker);
                assertTrue(resumes(broker, "offline") >= 1, "resumed because the subscriber went offline");
            } finally {
                pool.shutdownNow();
            }
            // Back online with its session: it gets every message that was acknowledged to a publisher.
            try (SlowSubscriber back = new SlowSubscriber(uri, "bp-leaver", false)) {
                back.catchUp();
                awaitTrue(() -> back.distinct() == PUBLISHERS * PER_PUBLISHER, "the offline queue delivered", broker);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static List<Future<?>> startPublishers(ExecutorService pool, String uri, String prefix, int qos) {
        List<Future<?>> futures = new ArrayList<>();
        // All connect first, then all publish: none runs alone while the others are still connecting.
        CountDownLatch connected = new CountDownLatch(PUBLISHERS);
        for (int p = 0; p < PUBLISHERS; p++) {
            int id = p;
            futures.add(pool.submit(() -> {
                MqttClient client = new MqttClient(uri, prefix + "-pub-" + id, new MemoryPersistence());
                // A paused publisher waits for its acknowledgement until the subscriber catches up.
                client.setTimeToWait(120_000);
                client.connect(options(true));
                connected.countDown();
                try {
                    if (!connected.await(60, TimeUnit.SECONDS)) {
                        throw new IllegalStateException("not all publishers connected within 60 s");
                    }
                    for (int i = 0; i < PER_PUBLISHER; i++) {
                        client.publish(prefix + "/" + id, (id + "-" + i).getBytes(StandardCharsets.UTF_8), qos, false);
                    }
                } finally {
                    client.disconnect(5_000);
                    client.close();
                }
                return null;
            }));
        }
        return futures;
    }

    private static MqttConnectOptions options(boolean clean) {
        MqttConnectOptions o = new MqttConnectOptions();
        o.setCleanSession(clean);
        o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        o.setAutomaticReconnect(false);
        o.setConnectionTimeout(10);
        o.setKeepAliveInterval(60);
        o.setMaxInflight(1000);
        return o;
    }

    private static int throttled(BrokerServer broker) {
        return (int) broker.meterRegistry().get("durablemq.publishers.throttled").gauge().value();
    }

    private static double count(BrokerServer broker, String name) {
        return broker.meterRegistry().get(name).counter().count();
    }

    private static double resumes(BrokerServer broker, String reason) {
        MeterRegistry r = broker.meterRegistry();
        return r.get("durablemq.publisher.resumes").tag("reason", reason).counter().count();
    }

    private static void awaitTrue(BooleanSupplier condition, String what, BrokerServer broker) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("not within 60 s: " + what + " (throttled publishers: " + throttled(broker) + ")");
            }
            Thread.sleep(10);
        }
    }

    /** Samples a session's queue length on its own thread and keeps the largest seen. */
    private static final class QueueWatch implements AutoCloseable {
        private final BrokerServer broker;
        private final String clientId;
        private final AtomicInteger max = new AtomicInteger();
        private volatile boolean running = true;
        private final Thread thread;

        QueueWatch(BrokerServer broker, String clientId) {
            this.broker = broker;
            this.clientId = clientId;
            this.thread = new Thread(() -> {
                while (running) {
                    max.accumulateAndGet(queued(), Math::max);
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "queue-watch");
            thread.setDaemon(true);
            thread.start();
        }

        int queued() {
            SessionSnapshot s = broker.engine().session(clientId);
            return s == null ? 0 : s.queuedMessages();
        }

        int max() {
            return max.get();
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join(10_000);
        }
    }

    /**
     * A subscriber with manual acknowledgements that withholds them until {@link #catchUp}:
     * its in-flight window fills and its queue grows, the way a consumer that cannot keep up
     * looks to the broker. Its reading thread never blocks, so it keeps reading.
     */
    private static final class SlowSubscriber implements AutoCloseable {
        final MqttClient client;
        private final Map<String, AtomicInteger> seen = new ConcurrentHashMap<>();
        private final List<int[]> withheld = new ArrayList<>();
        private boolean acking;

        SlowSubscriber(String uri, String clientId, boolean clean) throws MqttException {
            client = new MqttClient(uri, clientId, new MemoryPersistence());
            client.setTimeToWait(10_000);
            client.setManualAcks(true);
            client.setCallback(new MqttCallback() {
                @Override
                public void connectionLost(Throwable cause) {
                }

                @Override
                public void messageArrived(String topic, MqttMessage message) throws MqttException {
                    seen.computeIfAbsent(new String(message.getPayload(), StandardCharsets.UTF_8),
                            k -> new AtomicInteger()).incrementAndGet();
                    arrived(message.getId(), message.getQos());
                }

                @Override
                public void deliveryComplete(IMqttDeliveryToken token) {
                }
            });
            client.connect(options(clean));
        }

        void subscribe(String filter, int qos) throws MqttException {
            client.subscribe(filter, qos);
        }

        private synchronized void arrived(int id, int qos) throws MqttException {
            if (acking) {
                client.messageArrivedComplete(id, qos);
            } else {
                withheld.add(new int[]{id, qos});
            }
        }

        /** Acknowledges what it withheld and, from now on, everything at once. */
        synchronized void catchUp() throws MqttException {
            acking = true;
            for (int[] m : withheld) {
                client.messageArrivedComplete(m[0], m[1]);
            }
            withheld.clear();
        }

        int distinct() {
            return seen.size();
        }

        int duplicates() {
            return seen.values().stream().mapToInt(c -> c.get() - 1).sum();
        }

        @Override
        public void close() throws MqttException {
            if (client.isConnected()) {
                client.disconnect(5_000);
            }
            client.close();
        }
    }
}
