package io.durablemq.broker;

import io.durablemq.broker.config.Limits;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttVersion;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * PUBACKs read together reach the engine as one call (MqttConnection / OutboundDelivery hold them
 * for the end of the read; mqtt-adapter/README.md), and still in the client's order with the
 * packets around them. A raw client sends its PUBACKs and the next packet in one socket write, so
 * the broker reads them together; a real Paho client publishes the backlog.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class PubackBatchTest {
    @TempDir
    Path data;
    BrokerServer broker;

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private void publish(int from, int to) throws Exception {
        try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "pub", true)) {
            for (int i = from; i < to; i++) {
                pub.publish("batch/t", "m" + i, 1);
            }
        }
    }

    private static MqttPublishMessage nextPublish(RawMqttClient c, long millis) throws IOException {
        MqttMessage m = c.receive(MqttMessageType.PUBLISH, millis);
        return (MqttPublishMessage) m;
    }

    private static String payload(MqttPublishMessage p) {
        try {
            return p.payload().toString(StandardCharsets.UTF_8);
        } finally {
            ReferenceCountUtil.release(p);
        }
    }

    private static RawMqttClient subscriber(int port) throws IOException {
        RawMqttClient c = new RawMqttClient(port);
        c.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "sub", false, 60));
        return c;
    }

    /**
     * PUBACKs and a DISCONNECT in one read: the PUBACKs are applied before the DISCONNECT ends the
     * session's connection, so after a reconnect nothing is resent. Handed over only at the end of
     * the read, they would meet a session already detached and be lost: all 20 would come back.
     */
    @Test
    void pubacksReadWithADisconnectAreAppliedBeforeIt() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data));
        try (RawMqttClient sub = subscriber(broker.mqttPort())) {
            sub.send(RawMqttClient.subscribe(1, "batch/t", 1));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 10_000));
            publish(0, 20);
            List<MqttMessage> acks = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                MqttPublishMessage p = nextPublish(sub, 10_000);
                assertNotNull(p, "message " + i);
                acks.add(RawMqttClient.ack(MqttMessageType.PUBACK, p.variableHeader().packetId()));
                assertEquals("m" + i, payload(p));
            }
            acks.add(new MqttMessage(new io.netty.handler.codec.mqtt.MqttFixedHeader(MqttMessageType.DISCONNECT,
                    false, io.netty.handler.codec.mqtt.MqttQoS.AT_MOST_ONCE, false, 0)));
            sub.sendTogether(acks.toArray(new MqttMessage[0]));
            sub.awaitClosed(10_000);
        }
        try (RawMqttClient again = subscriber(broker.mqttPort())) {
            MqttPublishMessage resent = nextPublish(again, 1_500);
            assertNull(resent, () -> "acknowledged before the DISCONNECT, yet resent: " + payload(resent));
            publish(20, 21);
            MqttPublishMessage next = nextPublish(again, 10_000);
            assertNotNull(next);
            assertEquals("m20", payload(next));
        }
    }

    /**
     * A window of 300 (MQTT 5 Receive Maximum) over 1,500 queued messages, each window acknowledged
     * in one write (more PUBACKs than one engine call takes: OutboundDelivery.MAX_PUBACKS_PER_CALL),
     * with a repeated and an unknown packet id among them: every message arrives once, in order,
     * the window refills after each batch, and nothing is resent after a reconnect.
     */
    @Test
    void aBacklogAcknowledgedAWindowAtATimeArrivesInOrderOnce() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data, Limits.defaults()));
        int window = 300;
        int total = 1_500;
        MqttProperties props = new MqttProperties();
        props.add(new MqttProperties.IntegerProperty(MqttProperties.MqttPropertyType.RECEIVE_MAXIMUM.value(), window));
        props.add(new MqttProperties.IntegerProperty(MqttProperties.MqttPropertyType.SESSION_EXPIRY_INTERVAL.value(), 3600));
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectV5("sub5", true, 60, props));
            sub.send(RawMqttClient.subscribe(1, "batch/t", 1));
            assertNotNull(sub.receive(MqttMessageType.SUBACK, 10_000));
        }
        publish(0, total); // queued while the subscriber is offline
        try (RawMqttClient sub = new RawMqttClient(broker.mqttPort())) {
            sub.connect(RawMqttClient.connectV5("sub5", false, 60, props));
            int next = 0;
            List<MqttMessage> held = new ArrayList<>();
            while (next < total) {
                MqttPublishMessage p = nextPublish(sub, 10_000);
                assertNotNull(p, "message " + next + " of " + total);
                assertFalse(p.fixedHeader().isDup(), "message " + next + " sent twice");
                int id = p.variableHeader().packetId();
                assertEquals("m" + next, payload(p), "order");
                next++;
                held.add(RawMqttClient.ack(MqttMessageType.PUBACK, id));
                if (held.size() == window) {
                    held.add(RawMqttClient.ack(MqttMessageType.PUBACK, id)); // repeated: ignored
                    held.add(RawMqttClient.ack(MqttMessageType.PUBACK, 65_000)); // never sent: ignored
                    sub.sendTogether(held.toArray(new MqttMessage[0]));
                    held.clear();
                }
            }
            if (!held.isEmpty()) {
                sub.sendTogether(held.toArray(new MqttMessage[0]));
            }
            sub.send(new MqttMessage(new io.netty.handler.codec.mqtt.MqttFixedHeader(MqttMessageType.DISCONNECT,
                    false, io.netty.handler.codec.mqtt.MqttQoS.AT_MOST_ONCE, false, 0)));
            sub.awaitClosed(10_000);
        }
        try (RawMqttClient again = new RawMqttClient(broker.mqttPort())) {
            again.connect(RawMqttClient.connectV5("sub5", false, 60, props));
            MqttPublishMessage resent = nextPublish(again, 1_500);
            assertNull(resent, () -> "acknowledged, yet resent: " + payload(resent));
        }
    }
}
