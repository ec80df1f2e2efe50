package io.durablemq.broker;

import io.durablemq.engine.store.CommitFaults;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A commit fails after its batch reached the store (the unknown outcome of a failed fsync).
 * An MQTT 5 publisher whose QoS 2 PUBLISH was in that batch gets no PUBREC (no 0x80 either: that
 * would tell it "not stored"); its connection is closed, Paho reconnects with clean start false
 * and resends with the same packet id, the engine's QoS 2 receive record answers it as a
 * duplicate, and the subscriber receives the message exactly once. /ready answers 503 while the
 * engine resets and 200 again after.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UnknownOutcomeTest {
    @TempDir
    Path data;
    BrokerServer broker;
    MqttAsyncClient pub;
    MqttAsyncClient sub;

    /** Throws once, after the next store write succeeded. */
    static final class FailAfterNextWrite implements CommitFaults {
        final AtomicBoolean armed = new AtomicBoolean();
        final CountDownLatch fired = new CountDownLatch(1);

        @Override
        public void afterWrite(int writes) {
            if (armed.compareAndSet(true, false)) {
                fired.countDown();
                throw new IllegalStateException("injected: fsync failed after the WAL append");
            }
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (MqttAsyncClient c : new MqttAsyncClient[]{pub, sub}) {
            if (c != null) {
                try {
                    c.disconnectForcibly(1_000, 1_000, false);
                } catch (MqttException ignored) {
                    // already gone
                }
                c.close(true);
            }
        }
        if (broker != null) {
            broker.close();
        }
    }

    private static MqttConnectionOptions persistentSession() {
        MqttConnectionOptions o = new MqttConnectionOptions();
        o.setCleanStart(false);
        o.setSessionExpiryInterval(3600L);
        o.setAutomaticReconnect(true);
        o.setAutomaticReconnectDelay(1, 2);
        return o;
    }

    @Test
    void qos2PublishInAFailedBatchIsResentAndDeliveredExactlyOnce() throws Exception {
        FailAfterNextWrite fault = new FailAfterNextWrite();
        int metricsPort = TestBrokers.freePort();
        broker = BrokerServer.start(TestBrokers.config(data).toBuilder().metricsPort(metricsPort).build(),
                c -> c.withCommitFaults(fault));
        HttpClient http = HttpClient.newHttpClient();
        URI ready = URI.create("http://127.0.0.1:" + metricsPort + "/ready");
        assertEquals(200, status(http, ready));

        BlockingQueue<String> received = new LinkedBlockingQueue<>();
        sub = new MqttAsyncClient(TestBrokers.tcpUri(broker), "uo-sub", new MemoryPersistence());
        sub.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                received.add(new String(message.getPayload(), StandardCharsets.UTF_8));
            }
        });
        sub.connect(persistentSession()).waitForCompletion(10_000);
        sub.subscribe("uo/#", 2).waitForCompletion(10_000);

        List<Integer> disconnectReasons = new CopyOnWriteArrayList<>();
        AtomicInteger reconnects = new AtomicInteger();
        CountDownLatch delivered = new CountDownLatch(1);
        pub = new MqttAsyncClient(TestBrokers.tcpUri(broker), "uo-pub", new MemoryPersistence());
        pub.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void disconnected(MqttDisconnectResponse response) {
                disconnectReasons.add(response.getReturnCode());
            }

            @Override
            public void connectComplete(boolean reconnect, String serverURI) {
                if (reconnect) {
                    reconnects.incrementAndGet();
                }
            }

            @Override
            public void deliveryComplete(IMqttToken token) {
                delivered.countDown();
            }
        });
        pub.connect(persistentSession()).waitForCompletion(10_000);

        // Watches readiness while the fault plays out: it must drop and come back.
        AtomicBoolean sawNotReady = new AtomicBoolean();
        AtomicBoolean watching = new AtomicBoolean(true);
        Thread watcher = new Thread(() -> {
            while (watching.get()) {
                if (!broker.isReady()) {
                    sawNotReady.set(true);
                }
                Thread.onSpinWait();
            }
        }, "ready-watcher");
        watcher.start();

        fault.armed.set(true);
        IMqttToken token = pub.publish("uo/x", "exactly-once".getBytes(StandardCharsets.UTF_8), 2, false);
        assertTrue(fault.fired.await(10, TimeUnit.SECONDS), "the publish's commit failed");
        // No PUBREC came: Paho completes a QoS 2 publish only on PUBCOMP, which needs a PUBREC first;
        // the connection was closed instead, and the resend after reconnecting completes it.
        assertTrue(delivered.await(60, TimeUnit.SECONDS), "the resend completed the QoS 2 exchange");
        token.waitForCompletion(10_000);
        assertNull(token.getException());
        assertTrue(reconnects.get() >= 1, "the publisher had to reconnect");
        assertFalse(disconnectReasons.isEmpty(), "the publisher's connection was closed");
        assertTrue(disconnectReasons.stream().allMatch(r -> r == 0x80), "DISCONNECT 0x80, not an ack: " + disconnectReasons);

        assertEquals("exactly-once", received.poll(30, TimeUnit.SECONDS), "delivered");
        assertNull(received.poll(3, TimeUnit.SECONDS), "and delivered once only");
        assertEquals(1.0, broker.meterRegistry().get("durablemq.qos2.duplicates.suppressed").counter().count(),
                "the resend met the receive record written by the failed batch");

        watching.set(false);
        watcher.join(5_000);
        assertTrue(sawNotReady.get(), "not ready while the engine reset");
        assertEquals(200, status(http, ready), "ready again");
    }

    private static int status(HttpClient http, URI uri) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
        return r.statusCode();
    }
}
