package io.durablemq.broker;

import io.durablemq.broker.config.Limits;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Protocol rules checked packet by packet with the raw client. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ProtocolRulesTest {
    @TempDir
    Path data;
    BrokerServer broker;

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private void start(Limits limits) throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data, limits));
    }

    private void start() throws Exception {
        start(Limits.defaults());
    }

    private static MqttProperties props(MqttPropertyType type, int value) {
        MqttProperties p = new MqttProperties();
        p.add(new MqttProperties.IntegerProperty(type.value(), value));
        return p;
    }

    private static byte reason(MqttMessage m) {
        Object h = m.variableHeader();
        if (h instanceof MqttReasonCodeAndPropertiesVariableHeader r) {
            return r.reasonCode();
        }
        if (h instanceof MqttPubReplyMessageVariableHeader r) {
            return r.reasonCode();
        }
        return 0;
    }

    private double meter(String name, String tagKey, String tagValue) {
        var counter = broker.meterRegistry().find(name).tag(tagKey, tagValue).counter();
        return counter == null ? 0 : counter.count();
    }

    @Test
    void keepAliveTimeoutClosesAfterOneAndAHalfIntervals() throws Exception {
        start();
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "ka", true, 2));
            long t0 = System.nanoTime();
            assertTrue(c.awaitClosed(8_000), "closed by the broker");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(ms >= 2_500 && ms < 6_000, "closed after " + ms + " ms, expected about 3,000");
        }
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            // a client that pings in time stays connected
            c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "ka2", true, 1));
            for (int i = 0; i < 4; i++) {
                Thread.sleep(700);
                c.send(MqttMessage.PINGREQ);
                assertNotNull(c.receive(MqttMessageType.PINGRESP, 2_000), "PINGRESP " + i);
            }
            assertFalse(c.isClosedByBroker());
        }
    }

    @Test
    void connectionWithoutConnectIsClosedAfterTheConnectTimeout() throws Exception {
        start(Limits.defaults().toBuilder().connectTimeout(Duration.ofSeconds(1)).build());
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            assertTrue(c.awaitClosed(5_000));
        }
    }

    @Test
    void malformedPacketClosesOnlyThatConnection() throws Exception {
        start();
        try (PahoV3 good = PahoV3.connect(TestBrokers.tcpUri(broker), "good", true);
             RawMqttClient bad3 = new RawMqttClient(broker.mqttPort());
             RawMqttClient bad5 = new RawMqttClient(broker.mqttPort())) {
            good.client.subscribe("still/works", 1);
            bad3.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "bad3", true, 60));
            bad3.sendRaw(new byte[]{0x00, 0x00}); // packet type 0 is reserved
            assertTrue(bad3.awaitClosed(5_000), "3.1.1 connection closed");

            bad5.connect(RawMqttClient.connectV5("bad5", true, 60, MqttProperties.NO_PROPERTIES));
            // PUBLISH with QoS 3, which does not exist
            bad5.sendRaw(new byte[]{0x36, 0x02, 0x00, 0x00});
            MqttMessage disconnect = bad5.receive(MqttMessageType.DISCONNECT, 5_000);
            assertNotNull(disconnect, "MQTT 5 gets a DISCONNECT");
            assertEquals((byte) 0x81, reason(disconnect), "malformed packet");
            assertTrue(bad5.awaitClosed(5_000));

            good.publish("still/works", "yes", 1);
            PahoV3.Received r = good.next(5_000);
            assertNotNull(r, "the good connection still works");
            assertEquals("yes", r.payload());
            assertEquals(null, good.lost);
        }
        assertEquals(2.0, meter("durablemq.protocol.errors", "reason", "malformed_packet"));
    }

    @Test
    void clientIdentifierRules() throws Exception {
        start();
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "", false, 60));
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_IDENTIFIER_REJECTED, ack.variableHeader().connectReturnCode());
            assertTrue(c.awaitClosed(5_000));
        }
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "", true, 60));
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, ack.variableHeader().connectReturnCode());
        }
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(RawMqttClient.connectV5("", false, 60, MqttProperties.NO_PROPERTIES));
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, ack.variableHeader().connectReturnCode());
            assertNotNull(ack.variableHeader().properties()
                    .getProperty(MqttPropertyType.ASSIGNED_CLIENT_IDENTIFIER.value()), "assigned id");
        }
        assertEquals(1.0, meter("durablemq.connects.rejected", "reason", "client_id_rejected"));
    }

    @Test
    void unsupportedProtocolVersionIsRefusedWithCode1() throws Exception {
        start();
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            // CONNECT, protocol "MQTT" level 6, clean session, keep-alive 60, client id "a"
            c.sendRaw(new byte[]{0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 'a'});
            MqttMessage m = c.receive(5_000);
            assertTrue(m instanceof MqttConnAckMessage, "CONNACK, got " + m);
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_UNACCEPTABLE_PROTOCOL_VERSION,
                    ((MqttConnAckMessage) m).variableHeader().connectReturnCode());
            assertTrue(c.awaitClosed(5_000));
        }
    }

    @Test
    void exceedingOurReceiveMaximumIsAProtocolError() throws Exception {
        start(Limits.defaults().toBuilder().receiveMaximum(2).build());
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(RawMqttClient.connectV5("rm", true, 60, MqttProperties.NO_PROPERTIES));
            assertEquals(2, ack.variableHeader().properties().getProperty(MqttPropertyType.RECEIVE_MAXIMUM.value()).value());
            // QoS 2 exchanges stay open until PUBREL/PUBCOMP, which this client never sends
            for (int id = 1; id <= 3; id++) {
                c.send(RawMqttClient.publish("rm/t", "m" + id, 2, id, false, false, null));
            }
            MqttMessage disconnect = c.receive(MqttMessageType.DISCONNECT, 5_000);
            assertNotNull(disconnect);
            assertEquals((byte) 0x93, reason(disconnect));
            assertTrue(c.awaitClosed(5_000));
        }
    }

    @Test
    void inboundTopicAliasesResolve() throws Exception {
        start();
        try (PahoV3 sub = PahoV3.connect(TestBrokers.tcpUri(broker), "alias-sub", true);
             RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            sub.client.subscribe("alias/#", 1);
            MqttConnAckMessage ack = c.connect(RawMqttClient.connectV5("alias-pub", true, 60, MqttProperties.NO_PROPERTIES));
            assertEquals(64, ack.variableHeader().properties().getProperty(MqttPropertyType.TOPIC_ALIAS_MAXIMUM.value()).value());
            c.send(RawMqttClient.publish("alias/long/topic", "first", 1, 1, false, false, props(MqttPropertyType.TOPIC_ALIAS, 3)));
            c.send(RawMqttClient.publish("", "second", 1, 2, false, false, props(MqttPropertyType.TOPIC_ALIAS, 3)));
            assertNotNull(c.receive(MqttMessageType.PUBACK, 5_000));
            assertNotNull(c.receive(MqttMessageType.PUBACK, 5_000));
            PahoV3.Received a = sub.next(5_000);
            PahoV3.Received b = sub.next(5_000);
            assertEquals("alias/long/topic", a.topic());
            assertEquals("alias/long/topic", b.topic());
            assertEquals("second", b.payload());
            // an alias above the maximum is a protocol error (0x94)
            c.send(RawMqttClient.publish("alias/x", "bad", 0, 0, false, false, props(MqttPropertyType.TOPIC_ALIAS, 65)));
            MqttMessage disconnect = c.receive(MqttMessageType.DISCONNECT, 5_000);
            assertEquals((byte) 0x94, reason(disconnect));
        }
    }

    @Test
    void messagesAboveTheClientsMaximumPacketSizeAreDiscardedNotSent() throws Exception {
        start();
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort());
             PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "mps-pub", true)) {
            c.connect(RawMqttClient.connectV5("mps-sub", true, 60, props(MqttPropertyType.MAXIMUM_PACKET_SIZE, 100)));
            c.send(RawMqttClient.subscribe(1, "mps/t", 1));
            assertNotNull(c.receive(MqttMessageType.SUBACK, 5_000));
            pub.publish("mps/t", "x".repeat(500), 1);
            pub.publish("mps/t", "small", 1);
            MqttPublishMessage got = (MqttPublishMessage) c.receive(MqttMessageType.PUBLISH, 5_000);
            assertNotNull(got);
            assertEquals("small", got.content().toString(StandardCharsets.UTF_8));
            c.send(RawMqttClient.ack(MqttMessageType.PUBACK, got.variableHeader().packetId()));
            assertNull(c.receive(MqttMessageType.PUBLISH, 500));
        }
    }

    @Test
    void disconnectMayNotSetAnExpiryWhenConnectHadZero() throws Exception {
        start();
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            c.connect(RawMqttClient.connectV5("expiry0", true, 60, MqttProperties.NO_PROPERTIES));
            c.send(MqttMessageBuilders.disconnect().reasonCode((byte) 0)
                    .properties(props(MqttPropertyType.SESSION_EXPIRY_INTERVAL, 60)).build());
            MqttMessage disconnect = c.receive(MqttMessageType.DISCONNECT, 5_000);
            assertNotNull(disconnect);
            assertEquals((byte) 0x82, reason(disconnect));
        }
    }

    @Test
    void fullSubscriberQueueRefusesPublishes() throws Exception {
        start(Limits.defaults().toBuilder().maxQueuedMessages(2).overflowPolicy(OverflowPolicy.REJECT).build());
        try (PahoV3 sub = PahoV3.connect(TestBrokers.tcpUri(broker), "full-sub", false)) {
            sub.client.subscribe("full/t", 1);
        }
        try (RawMqttClient v5 = new RawMqttClient(broker.mqttPort())) {
            v5.connect(RawMqttClient.connectV5("full-pub5", true, 60, MqttProperties.NO_PROPERTIES));
            for (int id = 1; id <= 3; id++) {
                v5.send(RawMqttClient.publish("full/t", "m" + id, 1, id, false, false, null));
                MqttMessage puback = v5.receive(MqttMessageType.PUBACK, 5_000);
                assertNotNull(puback);
                assertEquals(id <= 2 ? (byte) 0x00 : (byte) 0x97, reason(puback), "PUBACK " + id);
            }
        }
        try (RawMqttClient v3 = new RawMqttClient(broker.mqttPort())) {
            v3.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "full-pub3", true, 60));
            v3.send(RawMqttClient.publish("full/t", "m4", 1, 4, false, false, null));
            assertNull(v3.receive(MqttMessageType.PUBACK, 3_000), "3.1.1: never acknowledged");
            assertTrue(v3.isClosedByBroker(), "3.1.1: disconnected");
        }
    }

    @Test
    void clientsReceiveMaximumBoundsUnacknowledgedDeliveries() throws Exception {
        start();
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort());
             PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "rmax-pub", true)) {
            sub.connect(RawMqttClient.connectV5("rmax-sub", true, 60, props(MqttPropertyType.RECEIVE_MAXIMUM, 2)));
            sub.send(RawMqttClient.subscribe(1, "rmax/t", 1));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 5_000));
            for (int i = 0; i < 5; i++) {
                pub.publish("rmax/t", "m" + i, 1);
            }
            MqttPublishMessage first = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 5_000);
            MqttPublishMessage second = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 5_000);
            assertNotNull(second);
            assertNull(sub.receive(MqttMessageType.PUBLISH, 500), "window of 2 full");
            sub.send(RawMqttClient.ack(MqttMessageType.PUBACK, first.variableHeader().packetId()));
            MqttPublishMessage third = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 5_000);
            assertNotNull(third, "one ack frees one slot");
            assertEquals("m2", third.content().toString(StandardCharsets.UTF_8));
            assertNull(sub.receive(MqttMessageType.PUBLISH, 500));
        }
    }

    @Test
    void mqtt31ClientsAreServed() throws Exception {
        start();
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1, "v31-client", true, 60));
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, ack.variableHeader().connectReturnCode());
            c.send(RawMqttClient.subscribe(1, "v31/t", 2));
            assertNotNull(c.receive(MqttMessageType.SUBACK, 5_000));
            c.send(RawMqttClient.publish("v31/t", "old protocol", 1, 2, false, false, null));
            // the PUBACK and the delivery of its own message may come in either order
            MqttMessage a = c.receive(5_000);
            MqttMessage b = c.receive(5_000);
            assertNotNull(b);
            MqttMessage delivered = a instanceof MqttPublishMessage ? a : b;
            MqttMessage puback = delivered == a ? b : a;
            assertEquals(MqttMessageType.PUBACK, puback.fixedHeader().messageType());
            assertEquals("old protocol", ((MqttPublishMessage) delivered).content().toString(StandardCharsets.UTF_8));
        }
    }
}
