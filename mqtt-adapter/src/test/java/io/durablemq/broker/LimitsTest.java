package io.durablemq.broker;

import io.durablemq.broker.config.Limits;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttSubAckMessage;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each configurable limit reached by a client: the protocol's answer to that client, a metric,
 * and a bystander client that keeps working.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LimitsTest {
    @TempDir
    Path data;
    BrokerServer broker;
    RawMqttClient bystander;

    @AfterEach
    void stop() throws IOException {
        if (bystander != null) {
            bystander.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    private void start(Limits limits) throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data, limits));
        bystander = new RawMqttClient(broker.mqttPort());
        bystander.connect(RawMqttClient.connectV5("bystander", true, 0, MqttProperties.NO_PROPERTIES));
        bystander.send(RawMqttClient.subscribe(1, "bystander/#", 1));
        assertNotNull(bystander.receive(MqttMessageType.SUBACK, 5_000));
    }

    /** The bystander's own publish comes back to it. */
    private void bystanderStillWorks() throws IOException {
        String payload = "ok-" + System.nanoTime();
        bystander.send(RawMqttClient.publish("bystander/t", payload, 1, 77, false, false, MqttProperties.NO_PROPERTIES));
        MqttPublishMessage back = (MqttPublishMessage) bystander.receive(MqttMessageType.PUBLISH, 5_000);
        assertNotNull(back, "bystander still served");
        assertEquals(payload, back.content().toString(StandardCharsets.UTF_8));
        bystander.send(RawMqttClient.ack(MqttMessageType.PUBACK, back.variableHeader().packetId()));
        assertTrue(!bystander.isClosedByBroker());
    }

    private void awaitOpenConnections(int expected) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (broker.meterRegistry().get("durablemq.connections").gauge().value() != expected) {
            assertTrue(System.nanoTime() < deadline, "open connections never came down to " + expected);
            Thread.sleep(10);
        }
    }

    private double counter(String name, String tagKey, String tagValue) {
        var c = broker.meterRegistry().find(name).tag(tagKey, tagValue).counter();
        return c == null ? 0 : c.count();
    }

    private static byte reason(MqttMessage m) {
        Object h = m.variableHeader();
        if (h instanceof MqttReasonCodeAndPropertiesVariableHeader r) {
            return r.reasonCode();
        }
        if (h instanceof MqttPubReplyMessageVariableHeader r) {
            return r.reasonCode();
        }
        throw new AssertionError("no reason code in " + m);
    }

    @Test
    void maxConnections() throws Exception {
        start(Limits.defaults().toBuilder().maxConnections(2).build());
        try (RawMqttClient second = new RawMqttClient(broker.mqttPort())) {
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, second.connect(
                    RawMqttClient.connectV5("second", true, 60, MqttProperties.NO_PROPERTIES)).variableHeader().connectReturnCode());
            RawMqttClient third5 = new RawMqttClient(broker.mqttPort());
            RawMqttClient third3 = new RawMqttClient(broker.mqttPort());
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_QUOTA_EXCEEDED, third5.connect(
                    RawMqttClient.connectV5("third5", true, 60, MqttProperties.NO_PROPERTIES)).variableHeader().connectReturnCode());
            assertTrue(third5.awaitClosed(5_000));
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE, third3.connect(
                    RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "third3", true, 60)).variableHeader().connectReturnCode());
            assertTrue(third3.awaitClosed(5_000));
            third5.close();
            third3.close();
            bystanderStillWorks();
            // The refused sockets are closed on the broker's side before it counts them closed: wait for the count,
            // or the flood below meets a limit that still holds them.
            awaitOpenConnections(2);

            // Far past the limit, sockets are closed at accept instead of waiting for their CONNECT.
            List<Socket> flood = new ArrayList<>();
            try {
                int closedAtAccept = 0;
                for (int i = 0; i < 40; i++) {
                    Socket s = new Socket("127.0.0.1", broker.mqttPort());
                    flood.add(s);
                }
                Thread.sleep(1_500);
                for (Socket s : flood) {
                    s.setSoTimeout(100);
                    try {
                        if (s.getInputStream().read() < 0) {
                            closedAtAccept++;
                        }
                    } catch (java.net.SocketTimeoutException e) {
                        // held open, waiting for a CONNECT (within the grace)
                    } catch (IOException e) {
                        closedAtAccept++;
                    }
                }
                // open before the flood: bystander + second = 2; grace 16 -> 2 + 16 = 18 sockets may stay
                assertEquals(40 - 16, closedAtAccept, "sockets closed at accept");
            } finally {
                for (Socket s : flood) {
                    s.close();
                }
            }
            bystanderStillWorks();
        }
        assertEquals(2.0 + 24, counter("durablemq.connects.rejected", "reason", "max_connections"));
    }

    @Test
    void clientIdLength() throws Exception {
        start(Limits.defaults().toBuilder().maxClientIdLength(23).build());
        String tooLong = "x".repeat(24);
        try (RawMqttClient c5 = new RawMqttClient(broker.mqttPort());
             RawMqttClient c3 = new RawMqttClient(broker.mqttPort());
             RawMqttClient ok = new RawMqttClient(broker.mqttPort())) {
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_CLIENT_IDENTIFIER_NOT_VALID,
                    c5.connect(RawMqttClient.connectV5(tooLong, true, 60, MqttProperties.NO_PROPERTIES))
                            .variableHeader().connectReturnCode());
            assertTrue(c5.awaitClosed(5_000));
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED,
                    c3.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, tooLong, true, 60))
                            .variableHeader().connectReturnCode());
            assertTrue(c3.awaitClosed(5_000));
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED,
                    ok.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "x".repeat(23), true, 60))
                            .variableHeader().connectReturnCode());
        }
        bystanderStillWorks();
        assertEquals(2.0, counter("durablemq.connects.rejected", "reason", "client_id_rejected"));
    }

    @Test
    void topicLengthAndLevels() throws Exception {
        start(Limits.defaults().toBuilder().maxTopicLength(32).maxTopicLevels(4).build());
        String tooLong = "t/" + "x".repeat(31);
        String tooDeep = "a/b/c/d/e";
        try (RawMqttClient c5 = new RawMqttClient(broker.mqttPort())) {
            c5.connect(RawMqttClient.connectV5("topics5", true, 60, MqttProperties.NO_PROPERTIES));
            c5.send(MqttMessageBuilders.subscribe().messageId(1)
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "a/b/c/d")
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, tooDeep)
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, tooLong).build());
            MqttSubAckMessage suback = (MqttSubAckMessage) c5.receive(MqttMessageType.SUBACK, 5_000);
            assertEquals(List.of(1, 0x8F, 0x8F), suback.payload().reasonCodes());
            c5.send(RawMqttClient.publish("a/b/c/d", "fits", 1, 2, false, false, MqttProperties.NO_PROPERTIES));
            // PUBACK and the delivery of the own subscription, in either order
            java.util.Set<MqttMessageType> got = java.util.EnumSet.noneOf(MqttMessageType.class);
            got.add(c5.receive(5_000).fixedHeader().messageType());
            got.add(c5.receive(5_000).fixedHeader().messageType());
            assertEquals(java.util.EnumSet.of(MqttMessageType.PUBACK, MqttMessageType.PUBLISH), got);
            c5.send(RawMqttClient.publish(tooDeep, "deep", 1, 3, false, false, MqttProperties.NO_PROPERTIES));
            MqttMessage disconnect = c5.receive(MqttMessageType.DISCONNECT, 5_000);
            assertNotNull(disconnect);
            assertEquals((byte) 0x90, reason(disconnect), "topic name invalid");
            assertTrue(c5.awaitClosed(5_000));
        }
        try (RawMqttClient c3 = new RawMqttClient(broker.mqttPort())) {
            c3.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "topics3", true, 60));
            c3.send(RawMqttClient.subscribe(1, tooDeep, 1));
            MqttSubAckMessage suback = (MqttSubAckMessage) c3.receive(MqttMessageType.SUBACK, 5_000);
            assertEquals(List.of(0x80), suback.payload().grantedQoSLevels());
            c3.send(RawMqttClient.publish(tooLong, "long", 1, 2, false, false, null));
            assertNull(c3.receive(MqttMessageType.PUBACK, 2_000), "never acknowledged");
            assertTrue(c3.awaitClosed(5_000), "3.1.1: closed");
        }
        bystanderStillWorks();
        assertEquals(2.0, counter("durablemq.protocol.errors", "reason", "topic_name_invalid"));
    }

    @Test
    void maxPacketSizeForARealPublish() throws Exception {
        start(Limits.defaults().toBuilder().maxPacketSize(1024).build());
        try (RawMqttClient c5 = new RawMqttClient(broker.mqttPort());
             RawMqttClient c3 = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c5.connect(RawMqttClient.connectV5("big5", true, 60, MqttProperties.NO_PROPERTIES));
            assertEquals(Integer.valueOf(1024), ack.variableHeader().properties()
                    .getProperty(MqttProperties.MqttPropertyType.MAXIMUM_PACKET_SIZE.value()).value(), "announced");
            c5.send(RawMqttClient.publish("big", "x".repeat(1000), 1, 1, false, false, MqttProperties.NO_PROPERTIES));
            assertTrue((reason(c5.receive(MqttMessageType.PUBACK, 5_000)) & 0xFF) < 0x80, "fits");
            c5.send(RawMqttClient.publish("big", "x".repeat(2000), 1, 2, false, false, MqttProperties.NO_PROPERTIES));
            MqttMessage disconnect = c5.receive(MqttMessageType.DISCONNECT, 5_000);
            assertNotNull(disconnect);
            assertEquals((byte) 0x95, reason(disconnect));
            assertTrue(c5.awaitClosed(5_000));

            c3.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "big3", true, 60));
            c3.send(RawMqttClient.publish("big", "x".repeat(2000), 1, 2, false, false, null));
            assertNull(c3.receive(MqttMessageType.PUBACK, 2_000));
            assertTrue(c3.awaitClosed(5_000));
        }
        bystanderStillWorks();
        assertEquals(2.0, counter("durablemq.protocol.errors", "reason", "packet_too_large"));
    }

    @Test
    void maxInflightBoundsTheOutboundWindow() throws Exception {
        start(Limits.defaults().toBuilder().maxInflight(2).build());
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            // the client allows 65,535 in flight; the broker's max_inflight of 2 decides
            sub.connect(RawMqttClient.connectV5("window", true, 60, MqttProperties.NO_PROPERTIES));
            sub.send(RawMqttClient.subscribe(1, "win/t", 1));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 5_000));
            for (int i = 0; i < 4; i++) {
                bystander.send(RawMqttClient.publish("win/t", "m" + i, 1, 100 + i, false, false, MqttProperties.NO_PROPERTIES));
            }
            MqttPublishMessage first = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 5_000);
            assertNotNull(sub.receive(MqttMessageType.PUBLISH, 5_000));
            assertNull(sub.receive(MqttMessageType.PUBLISH, 700), "window of 2 full");
            sub.send(RawMqttClient.ack(MqttMessageType.PUBACK, first.variableHeader().packetId()));
            MqttPublishMessage third = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 5_000);
            assertNotNull(third);
            assertEquals("m2", third.content().toString(StandardCharsets.UTF_8));
        }
        bystanderStillWorks();
    }

    @Test
    void queuedBytesPerSession() throws Exception {
        start(Limits.defaults().toBuilder().maxQueuedBytes(300).overflowPolicy(OverflowPolicy.REJECT).build());
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "qbytes", false, 60));
            sub.send(RawMqttClient.subscribe(1, "qb/t", 1));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 5_000));
            sub.send(MqttMessage.DISCONNECT);
            assertTrue(sub.awaitClosed(5_000));
        }
        String payload = "p".repeat(100); // accounted as topic + payload + 32 = 136 bytes
        try (RawMqttClient pub = new RawMqttClient(broker.mqttPort())) {
            pub.connect(RawMqttClient.connectV5("qbytes-pub", true, 60, MqttProperties.NO_PROPERTIES));
            for (int id = 1; id <= 3; id++) {
                pub.send(RawMqttClient.publish("qb/t", payload, 1, id, false, false, MqttProperties.NO_PROPERTIES));
                MqttMessage puback = pub.receive(MqttMessageType.PUBACK, 5_000);
                assertNotNull(puback);
                assertEquals(id <= 2 ? (byte) 0x00 : (byte) 0x97, reason(puback), "PUBACK " + id);
            }
        }
        bystanderStillWorks();
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "qbytes", false, 60));
            assertNotNull(sub.receive(MqttMessageType.PUBLISH, 5_000));
            assertNotNull(sub.receive(MqttMessageType.PUBLISH, 5_000));
            assertNull(sub.receive(MqttMessageType.PUBLISH, 700), "the refused message was never queued");
        }
    }
    @Test
    void subscriptionsPerClient() throws Exception {
        start(Limits.defaults().toBuilder().maxSubscriptionsPerClient(3).build());
        try (RawMqttClient c5 = new RawMqttClient(broker.mqttPort());
             RawMqttClient c3 = new RawMqttClient(broker.mqttPort())) {
            c5.connect(RawMqttClient.connectV5("subs5", true, 60, MqttProperties.NO_PROPERTIES));
            c5.send(MqttMessageBuilders.subscribe().messageId(1)
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/1")
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/2")
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/3")
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/4").build());
            MqttSubAckMessage suback = (MqttSubAckMessage) c5.receive(MqttMessageType.SUBACK, 5_000);
            assertEquals(List.of(1, 1, 1, 0x97), suback.payload().reasonCodes(), "MQTT 5: quota exceeded");
            // replacing an existing subscription is not a new one
            c5.send(RawMqttClient.subscribe(2, "s/2", 0));
            assertEquals(List.of(0), ((MqttSubAckMessage) c5.receive(MqttMessageType.SUBACK, 5_000)).payload().reasonCodes());
            assertTrue(!c5.isClosedByBroker());

            c3.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "subs3", true, 60));
            c3.send(MqttMessageBuilders.subscribe().messageId(1)
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/1")
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/2")
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/3")
                    .addSubscription(MqttQoS.AT_LEAST_ONCE, "s/4").build());
            MqttSubAckMessage suback3 = (MqttSubAckMessage) c3.receive(MqttMessageType.SUBACK, 5_000);
            assertEquals(List.of(1, 1, 1, 0x80), suback3.payload().grantedQoSLevels(), "3.1.1: failure 0x80");
        }
        bystanderStillWorks();
        assertEquals(2.0, counter("durablemq.subscriptions.refused", "reason", "max_subscriptions"));
    }
}
