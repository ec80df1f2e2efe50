package io.durablemq.broker;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Acknowledgements reach the client in the order its PUBLISHes arrived, each only once the
 * message is stored, now that the broker hands them to the event loop several at a time and
 * flushes once after them (protocol.LoopWrites). A raw client writes a burst of QoS 1 and QoS 2
 * PUBLISHes in one socket write, so that many land in the same commit and the same hand-over,
 * and reads the wire: PUBACK / PUBREC must come in the burst's order. Its PUBRELs, again in one
 * write, must get their PUBCOMPs in order. A Paho subscriber's persistent session receives every
 * acknowledged message after the broker restarted on the same store.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PublishAcksInOrderTest {
    private static final int BURST = 300;

    @Test
    void aBurstIsAcknowledgedInArrivalOrderAndKeptAcrossARestart(@TempDir Path data) throws Exception {
        Set<String> received = ConcurrentHashMap.newKeySet();
        try (BrokerServer broker = TestBrokers.start(TestBrokers.config(data))) {
            subscribeAndLeave(broker); // a persistent session that queues the burst while offline
            for (MqttVersion version : new MqttVersion[] {MqttVersion.MQTT_3_1_1, MqttVersion.MQTT_5}) {
                publishBurst(broker.mqttPort(), version);
            }
        }
        try (BrokerServer broker = TestBrokers.start(TestBrokers.config(data))) {
            MqttClient subscriber = new MqttClient(TestBrokers.tcpUri(broker), "acks-sub", new MemoryPersistence());
            subscriber.setCallback(new SimpleCallback(received));
            subscriber.connect(persistent());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (received.size() < 2 * BURST && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            subscriber.disconnect(2_000);
            subscriber.close(true);
        }
        assertEquals(2 * BURST, received.size(), "every acknowledged message is held across the restart");
    }

    /** One burst from one client: the acks on the wire must follow the PUBLISHes' order. */
    private static void publishBurst(int port, MqttVersion version) throws Exception {
        String tag = version == MqttVersion.MQTT_5 ? "v5" : "v3";
        try (RawMqttClient client = new RawMqttClient(port)) {
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED,
                    client.connect(RawMqttClient.connectPacket(version, "acks-pub-" + tag, true, 60))
                            .variableHeader().connectReturnCode());
            List<String> expected = new ArrayList<>();
            List<MqttMessage> burst = new ArrayList<>();
            List<Integer> qos2Ids = new ArrayList<>();
            for (int id = 1; id <= BURST; id++) {
                int qos = id % 3 == 0 ? 2 : 1; // interleaved, so PUBACKs and PUBRECs share commits
                burst.add(RawMqttClient.publish("acks/" + tag, tag + "-" + id, qos, id, false, false, null));
                expected.add((qos == 1 ? "PUBACK " : "PUBREC ") + id);
                if (qos == 2) {
                    qos2Ids.add(id);
                }
            }
            client.sendRaw(encode(version, burst));
            assertEquals(expected, readAcks(client, BURST), tag + ": acknowledgements in arrival order");

            List<MqttMessage> releases = new ArrayList<>();
            List<String> completions = new ArrayList<>();
            for (int id : qos2Ids) {
                releases.add(RawMqttClient.ack(MqttMessageType.PUBREL, id));
                completions.add("PUBCOMP " + id);
            }
            client.sendRaw(encode(version, releases));
            assertEquals(completions, readAcks(client, qos2Ids.size()), tag + ": PUBCOMPs in PUBREL order");
        }
    }

    private static List<String> readAcks(RawMqttClient client, int count) throws Exception {
        List<String> acks = new ArrayList<>();
        while (acks.size() < count) {
            MqttMessage m = client.receive(30_000);
            assertNotNull(m, "acknowledgement " + (acks.size() + 1) + " of " + count + " did not come; got " + acks);
            assertTrue(m.variableHeader() instanceof MqttMessageIdVariableHeader, "not an acknowledgement: " + m);
            int id = ((MqttMessageIdVariableHeader) m.variableHeader()).messageId();
            acks.add(m.fixedHeader().messageType() + " " + id);
        }
        return acks;
    }

    /** The packets encoded back to back in {@code version}'s format, to be written with one socket write. */
    private static byte[] encode(MqttVersion version, List<MqttMessage> packets) {
        EmbeddedChannel codec = new EmbeddedChannel(MqttEncoder.INSTANCE);
        // Encoding a CONNECT sets the channel's protocol version, which the encoder reads for the packets after it.
        codec.writeOutbound(RawMqttClient.connectPacket(version, "encoder", true, 60));
        ByteBuf connect;
        while ((connect = codec.readOutbound()) != null) {
            connect.release();
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (MqttMessage p : packets) {
            codec.writeOutbound(p);
            ByteBuf buf;
            while ((buf = codec.readOutbound()) != null) {
                byte[] b = new byte[buf.readableBytes()];
                buf.readBytes(b);
                buf.release();
                bytes.writeBytes(b);
            }
        }
        codec.finishAndReleaseAll();
        return bytes.toByteArray();
    }

    private static void subscribeAndLeave(BrokerServer broker) throws Exception {
        MqttClient subscriber = new MqttClient(TestBrokers.tcpUri(broker), "acks-sub", new MemoryPersistence());
        subscriber.connect(persistent());
        subscriber.subscribe("acks/#", 2);
        subscriber.disconnect(2_000);
        subscriber.close(true);
    }

    private static MqttConnectOptions persistent() {
        MqttConnectOptions o = new MqttConnectOptions();
        o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        o.setCleanSession(false);
        return o;
    }

    /** Collects payloads of delivered messages (a set: a QoS 1 redelivery counts once). */
    private record SimpleCallback(Set<String> received) implements MqttCallback {
        @Override
        public void connectionLost(Throwable cause) {
        }

        @Override
        public void messageArrived(String topic, org.eclipse.paho.client.mqttv3.MqttMessage message) {
            received.add(new String(message.getPayload(), StandardCharsets.UTF_8));
        }

        @Override
        public void deliveryComplete(IMqttDeliveryToken token) {
        }
    }
}
