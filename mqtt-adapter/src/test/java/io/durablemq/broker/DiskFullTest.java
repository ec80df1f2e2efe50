package io.durablemq.broker;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttPublishVariableHeader;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The broker's data folder on a 32 MiB tmpfs (needs root, as in CI; skipped otherwise), filled
 * up by a filler file. QoS 1 and 2 publishes must then be refused (MQTT 5 DISCONNECT 0x80, since a
 * failed commit's outcome is unknown, or PUBACK/PUBREC 0x80; MQTT 3.1.1 close) and never acknowledged as a
 * success; every message acknowledged before is delivered after the filler is deleted, and the
 * broker accepts publishes again.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class DiskFullTest {
    private static final int PAYLOAD = 64 * 1024;

    @TempDir
    Path tmp;
    Path mount;
    boolean mounted;
    BrokerServer broker;

    @BeforeEach
    void mountTmpfs() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "mounting a tmpfs needs root");
        mount = Files.createDirectories(tmp.resolve("small"));
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", mount.toString())
                .redirectErrorStream(true).start();
        assumeTrue(p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0, "tmpfs mount not permitted here");
        mounted = true;
    }

    @AfterEach
    void stopAndUnmount() throws Exception {
        try {
            if (broker != null) {
                broker.close();
            }
        } finally {
            if (mounted) {
                new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor(20, TimeUnit.SECONDS);
            }
        }
    }

    private static MqttPublishMessage publish(int qos, int packetId, int index) {
        byte[] payload = new byte[PAYLOAD];
        ByteBuffer.wrap(payload).putInt(index);
        return new MqttPublishMessage(new MqttFixedHeader(MqttMessageType.PUBLISH, false, MqttQoS.valueOf(qos), false, 0),
                new MqttPublishVariableHeader("disk/t", packetId, MqttProperties.NO_PROPERTIES), Unpooled.wrappedBuffer(payload));
    }

    private static int reason(MqttMessage m) {
        Object h = m.variableHeader();
        if (h instanceof MqttPubReplyMessageVariableHeader r) {
            return r.reasonCode() & 0xFF;
        }
        if (h instanceof MqttReasonCodeAndPropertiesVariableHeader r) {
            return r.reasonCode() & 0xFF;
        }
        return 0;
    }

    @Test
    void fullDiskRefusesPublishesLosesNothingAndResumes() throws Exception {
        // The disk itself must fill here: the default broker-wide budget (a quarter of the tmpfs's
        // free space) would refuse publishes with 0x97 long before (QueueBudgetFillTest covers that).
        broker = TestBrokers.start(TestBrokers.config(mount.resolve("data")).toBuilder()
                .admission(io.durablemq.engine.guard.AdmissionSettings.off()).build());
        int port = broker.mqttPort();
        try (RawMqttClient sub = new RawMqttClient(port)) {
            sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "disk-sub", false, 0));
            sub.send(RawMqttClient.subscribe(1, "disk/t", 1));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 5_000));
            sub.send(MqttMessage.DISCONNECT);
            assertTrue(sub.awaitClosed(5_000));
        }

        Set<Integer> acknowledged = new HashSet<>();
        int index = 0;
        // A few messages while there is space.
        try (RawMqttClient pub = new RawMqttClient(port)) {
            pub.connect(RawMqttClient.connectV5("disk-pub", true, 0, MqttProperties.NO_PROPERTIES));
            for (int i = 0; i < 5; i++, index++) {
                pub.send(publish(1, index + 1, index));
                MqttMessage ack = pub.receive(MqttMessageType.PUBACK, 10_000);
                assertNotNull(ack);
                assertTrue(reason(ack) < 0x80);
                acknowledged.add(index);
            }
        }

        Path filler = mount.resolve("filler");
        fill(filler);

        // Publish QoS 1 and 2 until the broker refuses: nothing refused may be acknowledged as a success.
        boolean refused = false;
        try (RawMqttClient pub = new RawMqttClient(port)) {
            pub.connect(RawMqttClient.connectV5("disk-pub", true, 0, MqttProperties.NO_PROPERTIES));
            for (int i = 0; i < 1_000 && !refused; i++, index++) {
                int qos = 1 + (i % 2);
                int packetId = (i % 60_000) + 1;
                pub.send(publish(qos, packetId, index));
                MqttMessage answer = pub.receive(30_000);
                if (answer == null) {
                    refused = true; // closed without an acknowledgement
                } else if (answer.fixedHeader().messageType() == MqttMessageType.DISCONNECT) {
                    assertEquals(0x80, reason(answer), "engine reset: unspecified error");
                    refused = true;
                } else {
                    MqttMessageType expected = qos == 1 ? MqttMessageType.PUBACK : MqttMessageType.PUBREC;
                    assertEquals(expected, answer.fixedHeader().messageType());
                    if (reason(answer) >= 0x80) {
                        assertEquals(0x80, reason(answer), "a failed commit is an unspecified error");
                        refused = true;
                    } else {
                        acknowledged.add(index); // durable from here on, whatever happens to PUBREL
                        if (qos == 2) {
                            pub.send(RawMqttClient.ack(MqttMessageType.PUBREL, packetId));
                            MqttMessage comp = pub.receive(30_000);
                            if (comp == null || comp.fixedHeader().messageType() != MqttMessageType.PUBCOMP) {
                                refused = true;
                            }
                        }
                    }
                }
            }
        }
        assertTrue(refused, "the full disk refused a publish");

        // The engine reopens its store (the reset may free a little space); fill the disk again: a
        // later commit fails the same way, and an MQTT 3.1.1 publisher, which has no negative ack,
        // is closed without a PUBACK. The first few publishes may still succeed: the reopened
        // store's new WAL was preallocated before the filler took the rest, so a commit can land
        // in space that is already the WAL's. Such a PUBACK is a real acknowledgement, and the
        // message must be delivered like any other.
        RawMqttClient pub3 = connectWhenBack(port, "disk-pub3", true);
        Path filler2 = mount.resolve("filler2");
        boolean closedWithoutAck = false;
        try (RawMqttClient p3 = pub3) {
            fill(filler2);
            for (int i = 0; i < 1_000 && !closedWithoutAck; i++, index++) {
                try {
                    p3.send(publish(1, (i % 60_000) + 1, index));
                } catch (IOException closed) {
                    closedWithoutAck = true; // closed by an earlier refusal before this publish went out
                    break;
                }
                MqttMessage answer = p3.receive(MqttMessageType.PUBACK, 30_000);
                if (answer == null) {
                    assertTrue(p3.awaitClosed(10_000), "3.1.1: a refused publish closes the connection");
                    closedWithoutAck = true;
                } else {
                    acknowledged.add(index);
                }
            }
        }
        assertTrue(closedWithoutAck, "3.1.1: the full disk refused a publish (closed, no PUBACK)");
        Files.delete(filler2);
        Files.delete(filler);

        // The broker resumes: the persistent subscriber gets every acknowledged message.
        Set<Integer> delivered = new HashSet<>();
        RawMqttClient sub = connectWhenBack(port, "disk-sub", false);
        try (RawMqttClient s = sub) {
            while (!delivered.containsAll(acknowledged)) {
                MqttPublishMessage m = (MqttPublishMessage) s.receive(MqttMessageType.PUBLISH, 20_000);
                if (m == null) {
                    fail("acknowledged messages lost: " + difference(acknowledged, delivered));
                }
                delivered.add(m.content().getInt(0));
                s.send(RawMqttClient.ack(MqttMessageType.PUBACK, m.variableHeader().packetId()));
            }

            // and publishes succeed again
            try (RawMqttClient pub = new RawMqttClient(port)) {
                pub.connect(RawMqttClient.connectV5("disk-pub", true, 0, MqttProperties.NO_PROPERTIES));
                pub.send(publish(1, 1, 999_999));
                MqttMessage ack = pub.receive(MqttMessageType.PUBACK, 20_000);
                assertNotNull(ack);
                assertEquals(0, reason(ack), "publishes are acknowledged again");
            }
            while (true) {
                MqttPublishMessage m = (MqttPublishMessage) s.receive(MqttMessageType.PUBLISH, 20_000);
                assertNotNull(m, "the new message is delivered");
                s.send(RawMqttClient.ack(MqttMessageType.PUBACK, m.variableHeader().packetId()));
                if (m.content().getInt(0) == 999_999) {
                    break;
                }
            }
        }
        assertTrue(acknowledged.size() >= 5);
    }

    /** Connects once the engine has reopened its store after a reset (CONNECTs are refused meanwhile). */
    private static RawMqttClient connectWhenBack(int port, String clientId, boolean clean) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline) {
            RawMqttClient c = new RawMqttClient(port);
            try {
                MqttConnAckMessage ack = c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, clientId, clean, 0));
                if (ack.variableHeader().connectReturnCode() == MqttConnectReturnCode.CONNECTION_ACCEPTED) {
                    return c;
                }
                assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE, ack.variableHeader().connectReturnCode(),
                        "while the store reopens: server unavailable");
            } catch (IOException notYet) {
                // closed while the engine resets
            }
            c.close();
            Thread.sleep(300);
        }
        throw new AssertionError("the broker did not accept " + clientId + " again within 60 s");
    }

    private static Set<Integer> difference(Set<Integer> a, Set<Integer> b) {
        Set<Integer> d = new HashSet<>(a);
        d.removeAll(b);
        return d;
    }

    private static void fill(Path filler) {
        byte[] chunk = new byte[256 * 1024];
        try (OutputStream out = Files.newOutputStream(filler)) {
            for (int i = 0; i < 1024; i++) {
                out.write(chunk);
            }
        } catch (IOException full) {
            // no space left: what we wanted
        }
    }
}
