package io.durablemq.broker;

import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Delayed wills survive a broker crash: client A (MQTT 5, will delay, session expiry 60 s) is
 * connected when the broker process is SIGKILLed; a broker restarted on the same data folder
 * sends A's will to the persistent subscriber B once, no earlier than the will delay after the
 * restart (A's connection ended with the crash, which recorded no time: it counts from the
 * restart). If A reconnects to its session within the delay, no will is sent at all.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DurableWillRestartTest {
    @TempDir
    Path work;

    /** A message B received, with when. */
    private record Received(String topic, String payload, long atMillis) {
    }

    private static MqttClient subscriberB(String uri, BlockingQueue<Received> inbox) throws Exception {
        MqttClient b = new MqttClient(uri, "will-b", new MemoryPersistence());
        b.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                inbox.add(new Received(topic, new String(message.getPayload(), StandardCharsets.UTF_8), System.currentTimeMillis()));
            }
        });
        MqttConnectionOptions o = new MqttConnectionOptions();
        o.setCleanStart(false);
        o.setSessionExpiryInterval(3600L);
        b.connect(o);
        return b;
    }

    private static MqttClient clientAWithWill(String uri, long willDelaySeconds) throws Exception {
        MqttClient a = new MqttClient(uri, "will-a", new MemoryPersistence());
        MqttConnectionOptions o = new MqttConnectionOptions();
        o.setCleanStart(false);
        o.setSessionExpiryInterval(60L);
        MqttMessage will = new MqttMessage("a is gone".getBytes(StandardCharsets.UTF_8));
        will.setQos(1);
        o.setWill("wills/a", will);
        MqttProperties willProps = new MqttProperties();
        willProps.setWillDelayInterval(willDelaySeconds);
        o.setWillMessageProperties(willProps);
        a.connect(o);
        return a;
    }

    private static void closeQuietly(MqttClient c) {
        try {
            c.disconnectForcibly(0, 100, false);
        } catch (Exception ignored) {
            // the broker is gone already
        }
        try {
            c.close(true);
        } catch (Exception ignored) {
            // best effort
        }
    }

    /** Starts a broker, connects B (subscribed to wills/#) and A with its will, and SIGKILLs the broker. */
    private Path crashWithAConnected(long willDelaySeconds) throws Exception {
        Path data = work.resolve("data");
        Files.createDirectories(data);
        try (BrokerProcess first = BrokerProcess.start(work, data, "first")) {
            BlockingQueue<Received> ignored = new LinkedBlockingQueue<>();
            MqttClient b = subscriberB(first.uri(), ignored);
            b.subscribe("wills/#", 1);
            MqttClient a = clientAWithWill(first.uri(), willDelaySeconds);
            assertEquals(137, first.kill(), "SIGKILL:\n" + first.output());
            closeQuietly(a);
            closeQuietly(b);
            assertTrue(ignored.isEmpty(), "nothing published before the crash");
        }
        return data;
    }

    @Test
    void willOfAClientConnectedAtTheCrashArrivesOnceAfterTheRestartAfterItsDelay() throws Exception {
        Path data = crashWithAConnected(3);
        long restarting = System.currentTimeMillis();
        try (BrokerProcess second = BrokerProcess.start(work, data, "second")) {
            BlockingQueue<Received> inbox = new LinkedBlockingQueue<>();
            MqttClient b = subscriberB(second.uri(), inbox);
            try {
                Received will = inbox.poll(20, TimeUnit.SECONDS);
                assertNotNull(will, "A's will after the restart:\n" + second.output());
                assertEquals("wills/a", will.topic());
                assertEquals("a is gone", will.payload());
                assertTrue(will.atMillis() >= restarting + 3_000,
                        "sent " + (will.atMillis() - restarting) + " ms after the restart began, before the 3 s delay");
                assertNull(inbox.poll(2, TimeUnit.SECONDS), "the will arrives once");
            } finally {
                closeQuietly(b);
            }
            assertEquals(0, second.terminate(), second.output());
        }
        // Sent once for good: a third start does not send it again.
        try (BrokerProcess third = BrokerProcess.start(work, data, "third")) {
            BlockingQueue<Received> inbox = new LinkedBlockingQueue<>();
            MqttClient b = subscriberB(third.uri(), inbox);
            try {
                assertNull(inbox.poll(4, TimeUnit.SECONDS), "no second will after another restart");
            } finally {
                closeQuietly(b);
            }
        }
    }

    @Test
    void aReconnectWithinTheDelayAfterTheRestartCancelsTheWill() throws Exception {
        long delay = 10;
        Path data = crashWithAConnected(delay);
        try (BrokerProcess second = BrokerProcess.start(work, data, "second")) {
            // Recovery ran before the broker listened, so the old will is due no later than this plus the delay.
            long listening = System.currentTimeMillis();
            BlockingQueue<Received> inbox = new LinkedBlockingQueue<>();
            MqttClient b = subscriberB(second.uri(), inbox);
            MqttClient a = clientAWithWill(second.uri(), delay); // resumes A's session
            long reconnected = System.currentTimeMillis();
            assertTrue(reconnected - listening < delay * 1000,
                    "A reconnected " + (reconnected - listening) + " ms after the broker listened: not within the delay");
            try {
                a.disconnect(); // normal DISCONNECT: the new will is deleted too
                long waitMillis = listening + delay * 1000 + 2_000 - System.currentTimeMillis();
                assertNull(inbox.poll(Math.max(waitMillis, 1_000), TimeUnit.MILLISECONDS),
                        "a reconnect within the delay cancels the will:\n" + second.output());
            } finally {
                closeQuietly(a);
                closeQuietly(b);
            }
        }
    }

    @Test
    void aGracefulStopIsNotTheClientsFailureItsWillCountsFromTheRestart() throws Exception {
        long delay = 5;
        Path data = work.resolve("graceful");
        BrokerServer broker = TestBrokers.start(TestBrokers.config(data));
        try {
            MqttClient b = subscriberB(TestBrokers.tcpUri(broker), new LinkedBlockingQueue<>());
            b.subscribe("wills/#", 1);
            closeQuietly(b);
            clientAWithWill(TestBrokers.tcpUri(broker), delay);
        } finally {
            broker.close(); // closes A's connection (DISCONNECT 0x8B): not A's failure
        }
        // Down for longer than the delay: had the stop counted as A's connection end, the will
        // would be overdue at the restart and sent although A comes straight back.
        Thread.sleep((delay + 1) * 1000);
        broker = TestBrokers.start(TestBrokers.config(data));
        long listening = System.currentTimeMillis();
        try {
            BlockingQueue<Received> inbox = new LinkedBlockingQueue<>();
            MqttClient b = subscriberB(TestBrokers.tcpUri(broker), inbox);
            MqttClient a = clientAWithWill(TestBrokers.tcpUri(broker), delay); // back within the delay after the restart
            assertTrue(System.currentTimeMillis() - listening < delay * 1000, "A came back within the delay");
            try {
                a.disconnect();
                long waitMillis = listening + delay * 1000 + 2_000 - System.currentTimeMillis();
                assertNull(inbox.poll(Math.max(waitMillis, 1_000), TimeUnit.MILLISECONDS),
                        "no will: A came back within its delay after the restart");
            } finally {
                closeQuietly(a);
                closeQuietly(b);
            }
        } finally {
            broker.close();
        }
    }
}
