package io.durablemq.broker;

import io.durablemq.broker.config.Limits;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * No packet the broker writes for a connection stays unflushed (protocol.LoopWrites): the engine's
 * threads hand deliveries, resends and acknowledgements to the event loop, which writes them
 * without a flush and flushes once per drain. If one drain ever ended without its flush, or a
 * task were left in the queue with no drain to come, the packet would wait for the next flush
 * the connection happens to make, such as the one after the client's next read.
 *
 * <p>So the clients here are raw sockets that go silent: keep-alive 0 (no PINGREQ), and after
 * each write of theirs they only read. Every packet they wait for must come from a flush that
 * needs nothing more from them. This is the shape of PowerCutIT's shared-group member g-2 (MQTT
 * 3.1.1, QoS 1, persistent session): its resends after a reconnect, then its window refilled by
 * its PUBACKs, and, for the second test, deliveries and PUBACKs that the commit completion thread
 * hands over while the connection's event loop is still reading a burst.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LoopWritesFlushTest {
    private static final int WINDOW = 40;
    private static final int MESSAGES = 200;
    private static final long WAIT_MILLIS = 30_000;

    @Test
    void resendsAfterAReconnectAndEveryRefillArriveWhileTheMemberStaysSilent(@TempDir Path data) throws Exception {
        Limits limits = Limits.defaults().toBuilder().maxInflight(WINDOW).build();
        try (BrokerServer broker = TestBrokers.start(TestBrokers.config(data, limits))) {
            int port = broker.mqttPort();
            Set<String> received = new HashSet<>();
            List<Integer> unacked = new ArrayList<>();
            try (RawMqttClient member = connectSilent(port, "lw-member", false)) {
                member.send(RawMqttClient.subscribe(1, "$share/g/lw/#", 1));
                assertNotNull(member.receive(MqttMessageType.SUBACK, WAIT_MILLIS), "SUBACK");
                publish(broker, MESSAGES, "lw-pub");
                // A full window, never acknowledged: the engine holds these 40 as sent.
                unacked.addAll(readPublishes(member, WINDOW, received, "first window"));
            } // the socket drops with the window in flight, as at a harness reconnect

            try (RawMqttClient member = connectSilent(port, "lw-member", false)) {
                // The resends go out from startDelivery (after the CONNACK), through the commit's
                // completion thread: nothing the member sends after its CONNECT makes them flush.
                List<Integer> resent = readPublishes(member, WINDOW, received, "resends after the reconnect");
                assertEquals(new HashSet<>(unacked), new HashSet<>(resent), "the unacknowledged window is resent");
                List<Integer> toAck = resent;
                while (received.size() < MESSAGES) {
                    // One write with every PUBACK; then silence until the refill has come.
                    member.sendTogether(pubacks(toAck));
                    int expected = Math.min(WINDOW, MESSAGES - received.size());
                    toAck = readPublishes(member, expected, received, "refill after " + received.size());
                }
                member.sendTogether(pubacks(toAck));
            }
            assertEquals(MESSAGES, received.size(), "every message reached the silent member");
        }
    }

    /**
     * The session taken over mid-flight, as when a client reconnects before the broker saw its old
     * socket close: the old connection still has deliveries queued for its loop while a publisher
     * goes on; the new one must get the unacknowledged window resent, and every refill, silently.
     */
    @Test
    void aTakeoverWhileDeliveriesAreQueuedLeavesNothingUnflushedOnTheNewConnection(@TempDir Path data)
            throws Exception {
        Limits limits = Limits.defaults().toBuilder().maxInflight(WINDOW).build();
        try (BrokerServer broker = TestBrokers.start(TestBrokers.config(data, limits))) {
            int port = broker.mqttPort();
            Set<String> received = new HashSet<>();
            RawMqttClient old = connectSilent(port, "lw-taken", false);
            try {
                old.send(RawMqttClient.subscribe(1, "$share/g/lw/#", 1));
                assertNotNull(old.receive(MqttMessageType.SUBACK, WAIT_MILLIS), "SUBACK");
                publish(broker, MESSAGES / 2, "lw-pub-1");
                List<Integer> first = readPublishes(old, WINDOW, received, "first window on the old connection");
                // Acknowledge half the window in one write and take the session over right after, while
                // the refill those PUBACKs start may still be on its way to the old connection's loop.
                // Either way the session holds a full window in flight at the takeover (60 more are queued).
                old.sendTogether(pubacks(first.subList(0, WINDOW / 2)));
                try (RawMqttClient member = connectSilent(port, "lw-taken", false)) {
                    assertTrue(old.awaitClosed(WAIT_MILLIS), "the old connection is closed at the takeover");
                    Thread publisher = new Thread(() -> {
                        try {
                            publish(broker, MESSAGES / 2, "lw-pub-2");
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    });
                    publisher.start();
                    List<Integer> toAck = readPublishes(member, WINDOW, received, "resends after the takeover");
                    while (received.size() < MESSAGES) {
                        member.sendTogether(pubacks(toAck));
                        toAck = readUpTo(member, WINDOW, MESSAGES, received, "refill after " + received.size());
                    }
                    member.sendTogether(pubacks(toAck));
                    publisher.join(WAIT_MILLIS);
                }
            } finally {
                old.close();
            }
            assertEquals(MESSAGES, received.size(), "every message reached the member that took the session over");
        }
    }

    @Test
    void acknowledgementsAndDeliveriesHandedOverWhileTheLoopReadsAreAllFlushed(@TempDir Path data) throws Exception {
        try (BrokerServer broker = TestBrokers.start(TestBrokers.config(data))) {
            int port = broker.mqttPort();
            for (int round = 1; round <= 3; round++) {
                String tag = "r" + round;
                try (RawMqttClient client = connectSilent(port, "lw-self-" + tag, true)) {
                    // Subscribed to its own topic: each PUBLISH comes back as a delivery besides its PUBACK.
                    client.send(RawMqttClient.subscribe(1, "self/" + tag + "/#", 1));
                    assertNotNull(client.receive(MqttMessageType.SUBACK, WAIT_MILLIS), "SUBACK");
                    MqttMessage[] burst = new MqttMessage[MESSAGES];
                    for (int i = 0; i < MESSAGES; i++) {
                        burst[i] = RawMqttClient.publish("self/" + tag + "/" + (i % 4), tag + "-" + i, 1, i + 1,
                                false, false, null);
                    }
                    // One socket write: the loop decodes the burst in several reads while the commit
                    // completion thread already hands back PUBACKs and deliveries for its first part.
                    client.sendTogether(burst);
                    client.sendTogether(pubacks(awaitAcksAndDeliveries(client, MESSAGES, tag)));
                }
            }
        }
    }

    /**
     * Lost wake-ups: a drain that ends just as the engine's thread adds a task must not leave it
     * queued with no drain to come. Each ending drain is a chance, so four clients in parallel
     * each make 40 short round trips (16 PUBLISHes to their own topic and the PUBACKs of the last
     * round's deliveries in one write, then silence until all 16 PUBACKs and 16 deliveries came);
     * a stranded task would wait for the client's next write, which never comes.
     */
    @Test
    void manyShortRoundTripsFromParallelClientsNeverStrandAPacket(@TempDir Path data) throws Exception {
        int clients = 4;
        int rounds = 40;
        int burst = 16;
        try (BrokerServer broker = TestBrokers.start(TestBrokers.config(data))) {
            int port = broker.mqttPort();
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    String tag = "c" + c;
                    done.add(pool.submit(() -> {
                        try (RawMqttClient client = connectSilent(port, "lw-rounds-" + tag, true)) {
                            client.send(RawMqttClient.subscribe(1, "rounds/" + tag, 1));
                            assertNotNull(client.receive(MqttMessageType.SUBACK, WAIT_MILLIS), "SUBACK");
                            List<Integer> deliveryIds = List.of();
                            for (int round = 1; round <= rounds; round++) {
                                List<MqttMessage> out = new ArrayList<>(List.of(pubacks(deliveryIds)));
                                for (int i = 0; i < burst; i++) {
                                    out.add(RawMqttClient.publish("rounds/" + tag, tag + "-" + round + "-" + i, 1,
                                            i + 1, false, false, null));
                                }
                                client.sendTogether(out.toArray(MqttMessage[]::new));
                                deliveryIds = awaitAcksAndDeliveries(client, burst, tag + " round " + round);
                            }
                            client.sendTogether(pubacks(deliveryIds));
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /** Reads, sending nothing, until {@code count} PUBACKs and {@code count} deliveries came; returns the deliveries' ids. */
    private static List<Integer> awaitAcksAndDeliveries(RawMqttClient client, int count, String what) throws Exception {
        Set<Integer> acked = new HashSet<>();
        Set<String> delivered = new HashSet<>();
        List<Integer> deliveryIds = new ArrayList<>();
        while (acked.size() < count || delivered.size() < count) {
            MqttMessage m = client.receive(WAIT_MILLIS);
            assertNotNull(m, what + ": silent client waits in vain with " + acked.size() + " PUBACKs and "
                    + delivered.size() + " deliveries of " + count);
            if (m instanceof MqttPublishMessage p) {
                delivered.add(payload(p));
                deliveryIds.add(p.variableHeader().packetId());
            } else {
                assertEquals(MqttMessageType.PUBACK, m.fixedHeader().messageType(), what + ": " + m);
                acked.add(((MqttMessageIdVariableHeader) m.variableHeader()).messageId());
            }
        }
        return deliveryIds;
    }

    /** A 3.1.1 connection with keep-alive 0: the client never sends a packet the test did not write. */
    private static RawMqttClient connectSilent(int port, String clientId, boolean clean) throws Exception {
        RawMqttClient client = new RawMqttClient(port);
        MqttConnAckMessage ack = client.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, clientId, clean, 0));
        assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, ack.variableHeader().connectReturnCode());
        return client;
    }

    /** {@code count} PUBLISHes, read without sending anything; returns their packet ids. */
    private static List<Integer> readPublishes(RawMqttClient client, int count, Set<String> received, String what)
            throws Exception {
        List<Integer> ids = new ArrayList<>();
        while (ids.size() < count) {
            MqttMessage m = client.receive(WAIT_MILLIS);
            assertNotNull(m, what + ": PUBLISH " + (ids.size() + 1) + " of " + count + " never came to the silent client"
                    + " (written and left unflushed, or never written); received so far " + received.size());
            assertTrue(m instanceof MqttPublishMessage, what + ": expected PUBLISH, got " + m);
            MqttPublishMessage p = (MqttPublishMessage) m;
            received.add(payload(p));
            ids.add(p.variableHeader().packetId());
        }
        return ids;
    }

    /**
     * PUBLISHes read without sending anything until the window is full ({@code window} new ones or
     * resends) or every one of {@code total} messages is in {@code received}; returns their packet ids.
     */
    private static List<Integer> readUpTo(RawMqttClient client, int window, int total, Set<String> received,
                                          String what) throws Exception {
        List<Integer> ids = new ArrayList<>();
        while (ids.size() < window && received.size() < total) {
            ids.addAll(readPublishes(client, 1, received, what));
        }
        return ids;
    }

    private static MqttMessage[] pubacks(List<Integer> ids) {
        return ids.stream().map(id -> RawMqttClient.ack(MqttMessageType.PUBACK, id)).toArray(MqttMessage[]::new);
    }

    private static String payload(MqttPublishMessage p) {
        return p.payload().toString(StandardCharsets.UTF_8);
    }

    /** {@code count} QoS 1 messages from a Paho 3.1.1 publisher, each acknowledged (stored) before the next. */
    private static void publish(BrokerServer broker, int count, String clientId) throws Exception {
        MqttClient publisher = new MqttClient(TestBrokers.tcpUri(broker), clientId, new MemoryPersistence());
        MqttConnectOptions o = new MqttConnectOptions();
        o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        // One publish at a time, but Paho frees a publish's in-flight slot on its callback thread
        // after the synchronous publish returned: the default 10 slots run out on a loaded machine.
        o.setMaxInflight(count);
        publisher.setTimeToWait(WAIT_MILLIS); // a PUBACK left unflushed fails here, not at the test's timeout
        publisher.connect(o);
        for (int i = 0; i < count; i++) {
            publisher.publish("lw/" + (i % 3), (clientId + "-" + i).getBytes(StandardCharsets.UTF_8), 1, false);
        }
        publisher.disconnect(2_000);
        publisher.close(true);
    }
}
