package io.durablemq.broker;

import io.durablemq.broker.config.Limits;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A server-side DISCONNECT reaches a client that is still writing: the broker half-closes
 * (DISCONNECT, flush, shut output, discard input, close) instead of closing a socket with
 * unread input, which makes the kernel send a reset that destroys the DISCONNECT in the
 * client's receive buffer. The client here writes everything first and reads only afterwards,
 * as a client busy publishing does.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GracefulDisconnectTest {
    private static final int BURST = 400;

    @TempDir
    Path data;
    BrokerServer broker;

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    /** Writes a burst of QoS 2 PUBLISHes (never released, so each stays unfinished) and stops at the first write error. */
    private static int writeBurst(RawMqttClient client, String payload) {
        int sent = 0;
        try {
            for (int i = 1; i <= BURST; i++) {
                client.send(RawMqttClient.publish("burst/t", payload, 2, i, false, false, MqttProperties.NO_PROPERTIES));
                sent++;
            }
        } catch (IOException e) {
            // the broker reset the connection: the assertions below say what the client could read
        }
        return sent;
    }

    private static byte reasonOf(MqttMessage m) {
        return ((MqttReasonCodeAndPropertiesVariableHeader) m.variableHeader()).reasonCode();
    }

    @Test
    void receiveMaximumExceededIsReadableByAClientStillWriting() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data, Limits.defaults().toBuilder().receiveMaximum(2).build()));
        try (RawMqttClient client = new RawMqttClient(broker.mqttPort())) {
            assertEquals(0, client.connect(RawMqttClient.connectV5("writer", true, 60, MqttProperties.NO_PROPERTIES))
                    .variableHeader().connectReturnCode().byteValue());
            int sent = writeBurst(client, "x".repeat(4096));

            MqttMessage disconnect = client.receive(MqttMessageType.DISCONNECT, 10_000);
            assertNotNull(disconnect, "DISCONNECT readable after " + sent + " publishes written (not a reset)");
            assertEquals((byte) 0x93, reasonOf(disconnect), "receive maximum exceeded");
            assertEquals(BURST, sent, "the broker kept reading (and discarding) while it ended the connection");
            assertTrue(client.awaitClosed(10_000), "then the broker closes");
        }
    }

    @Test
    void packetTooLargeIsReadableByAClientStillWriting() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data, Limits.defaults().toBuilder().maxPacketSize(1024).build()));
        try (RawMqttClient client = new RawMqttClient(broker.mqttPort())) {
            assertEquals(0, client.connect(RawMqttClient.connectV5("too-large", true, 60, MqttProperties.NO_PROPERTIES))
                    .variableHeader().connectReturnCode().byteValue());
            // Each PUBLISH is over the limit: the first is refused, the rest are input the broker never reads as packets.
            int sent = writeBurst(client, "y".repeat(4096));

            MqttMessage disconnect = client.receive(MqttMessageType.DISCONNECT, 10_000);
            assertNotNull(disconnect, "DISCONNECT readable after " + sent + " publishes written (not a reset)");
            assertEquals((byte) 0x95, reasonOf(disconnect), "packet too large");
            assertEquals(BURST, sent, "the broker kept reading (and discarding) while it ended the connection");
            assertTrue(client.awaitClosed(10_000), "then the broker closes");
        }
    }
}
