package io.durablemq.broker;

import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * QoS 2 exchanges cut at the worst moments, with a broker restart in between, resumed on
 * reconnect: the message is delivered exactly once in both directions.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class Qos2ResumeTest {
    @TempDir
    Path data;
    BrokerServer broker;

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private void restart() throws Exception {
        broker.close();
        broker = TestBrokers.start(TestBrokers.config(data));
    }

    @Test
    void inboundQos2InterruptedAfterPubrecIsNotRoutedAgainWhenResent() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data));
        PahoV3 sub = PahoV3.connect(TestBrokers.tcpUri(broker), "q2-in-sub", false);
        sub.client.subscribe("q2/in", 2);

        try (RawMqttClient pub = new RawMqttClient(broker.mqttPort())) {
            pub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "q2-in-pub", false, 60));
            pub.send(RawMqttClient.publish("q2/in", "exactly-once", 2, 7, false, false, null));
            MqttMessage pubrec = pub.receive(MqttMessageType.PUBREC, 10_000);
            assertNotNull(pubrec, "PUBREC");
            assertEquals(7, ((MqttMessageIdVariableHeader) pubrec.variableHeader()).messageId());
        } // connection dropped before PUBREL
        List<PahoV3.Received> first = sub.take(1, 10_000);
        sub.close();

        restart();

        try (RawMqttClient pub = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = pub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "q2-in-pub", false, 60));
            assertTrue(ack.variableHeader().isSessionPresent(), "session present after restart");
            // The client resends the PUBLISH (DUP) as if it never saw the PUBREC: answered, not routed again.
            pub.send(RawMqttClient.publish("q2/in", "exactly-once", 2, 7, true, false, null));
            assertNotNull(pub.receive(MqttMessageType.PUBREC, 10_000), "PUBREC for the resent PUBLISH");
            pub.send(RawMqttClient.ack(MqttMessageType.PUBREL, 7));
            MqttMessage pubcomp = pub.receive(MqttMessageType.PUBCOMP, 10_000);
            assertNotNull(pubcomp, "PUBCOMP");
            assertEquals(7, ((MqttMessageIdVariableHeader) pubcomp.variableHeader()).messageId());
        }

        PahoV3 again = new PahoV3(TestBrokers.tcpUri(broker), "q2-in-sub");
        again.connect(false);
        List<PahoV3.Received> second = again.take(2, 2_000);
        again.close();
        int total = first.size() + second.size();
        assertEquals(1, total, "delivered exactly once, got " + first + " then " + second);
    }

    @Test
    void outboundQos2InterruptedAfterPubrecResumesWithPubrelOnly() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data));
        int packetId;
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "q2-out-sub", false, 60));
            sub.send(RawMqttClient.subscribe(1, "q2/out", 2));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 10_000));
            try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "q2-out-pub", true)) {
                pub.publish("q2/out", "once", 2);
            }
            MqttPublishMessage publish = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 10_000);
            assertNotNull(publish);
            assertEquals(2, publish.fixedHeader().qosLevel().value());
            packetId = publish.variableHeader().packetId();
            sub.send(RawMqttClient.ack(MqttMessageType.PUBREC, packetId));
            MqttMessage pubrel = sub.receive(MqttMessageType.PUBREL, 10_000);
            assertNotNull(pubrel, "PUBREL");
        } // dropped before PUBCOMP

        restart();

        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "q2-out-sub", false, 60));
            assertTrue(ack.variableHeader().isSessionPresent());
            MqttMessage resent = sub.receive(5_000);
            assertNotNull(resent, "something resent");
            assertEquals(MqttMessageType.PUBREL, resent.fixedHeader().messageType(), "resend is PUBREL, not the message: " + resent);
            assertEquals(packetId, ((MqttMessageIdVariableHeader) resent.variableHeader()).messageId());
            sub.send(RawMqttClient.ack(MqttMessageType.PUBCOMP, packetId));
            assertNull(sub.receive(MqttMessageType.PUBLISH, 1_000), "no second delivery");
        }
        // and the exchange is finished for good: a third connection gets nothing
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "q2-out-sub", false, 60));
            assertNull(sub.receive(1_000), "nothing left to resend");
        }
    }

    @Test
    void outboundQos2InterruptedBeforePubrecIsResentWithDupAndSamePacketId() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data));
        int packetId;
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "q2-dup-sub", false, 60));
            sub.send(RawMqttClient.subscribe(1, "q2/dup", 2));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 10_000));
            try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "q2-dup-pub", true)) {
                pub.publish("q2/dup", "again", 2);
            }
            MqttPublishMessage publish = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 10_000);
            assertNotNull(publish);
            assertEquals(false, publish.fixedHeader().isDup());
            packetId = publish.variableHeader().packetId();
        }
        restart();
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "q2-dup-sub", false, 60));
            MqttPublishMessage resent = (MqttPublishMessage) sub.receive(MqttMessageType.PUBLISH, 5_000);
            assertNotNull(resent);
            assertTrue(resent.fixedHeader().isDup(), "DUP set on resend");
            assertEquals(packetId, resent.variableHeader().packetId());
            assertEquals("again", resent.content().toString(StandardCharsets.UTF_8));
            sub.send(RawMqttClient.ack(MqttMessageType.PUBREC, packetId));
            assertNotNull(sub.receive(MqttMessageType.PUBREL, 5_000));
            sub.send(RawMqttClient.ack(MqttMessageType.PUBCOMP, packetId));
            assertNull(sub.receive(MqttMessageType.PUBLISH, 1_000));
        }
    }
}
