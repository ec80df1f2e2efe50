package io.durablemq.broker;

import com.hivemq.client.mqtt.mqtt5.Mqtt5BlockingClient;
import com.hivemq.client.mqtt.mqtt5.Mqtt5Client;
import com.hivemq.client.mqtt.mqtt5.message.connect.connack.Mqtt5ConnAck;
import io.durablemq.broker.config.Limits;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * MQTT 5 features of the conformance table (mqtt-adapter/README.md) that no other test shows:
 * Server Keep Alive, reason strings only for a client that wants problem information, and
 * PUBACK 0x10 "no matching subscribers".
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class Mqtt5ConformanceTest {
    @TempDir
    Path data;
    BrokerServer broker;

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void serverKeepAliveLowersAKeepAliveAboveTheMaximum() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data, Limits.defaults().toBuilder().maxKeepAliveSeconds(30).build()));
        Mqtt5BlockingClient client = Mqtt5Client.builder().identifier("ska").serverHost("127.0.0.1")
                .serverPort(broker.mqttPort()).buildBlocking();
        Mqtt5ConnAck ack = client.connectWith().keepAlive(600).send();
        assertEquals(30, ack.getServerKeepAlive().orElseThrow(), "Server Keep Alive in CONNACK");
        client.disconnect();

        Mqtt5ConnAck within = client.connectWith().keepAlive(20).send();
        assertEquals(false, within.getServerKeepAlive().isPresent(), "a keep-alive within the maximum is kept");
        client.disconnect();
    }

    private static MqttProperties problemInformation(int value) {
        MqttProperties p = new MqttProperties();
        p.add(new MqttProperties.IntegerProperty(MqttPropertyType.REQUEST_PROBLEM_INFORMATION.value(), value));
        return p;
    }

    /** A PUBLISH with a topic alias above the maximum: DISCONNECT 0x94. */
    private MqttMessage disconnectForBadAlias(String clientId, MqttProperties connectProps) throws Exception {
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            c.connect(RawMqttClient.connectV5(clientId, true, 60, connectProps));
            MqttProperties alias = new MqttProperties();
            alias.add(new MqttProperties.IntegerProperty(MqttPropertyType.TOPIC_ALIAS.value(), 60_000));
            c.send(RawMqttClient.publish("alias/t", "x", 0, 0, false, false, alias));
            MqttMessage d = c.receive(MqttMessageType.DISCONNECT, 10_000);
            assertNotNull(d, "DISCONNECT");
            assertEquals((byte) 0x94, ((MqttReasonCodeAndPropertiesVariableHeader) d.variableHeader()).reasonCode());
            return d;
        }
    }

    @Test
    void reasonStringsOnlyForClientsThatWantProblemInformation() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data));
        MqttProperties withReason = ((MqttReasonCodeAndPropertiesVariableHeader)
                disconnectForBadAlias("ps-default", MqttProperties.NO_PROPERTIES).variableHeader()).properties();
        assertNotNull(withReason.getProperty(MqttPropertyType.REASON_STRING.value()), "reason string by default");

        MqttProperties without = ((MqttReasonCodeAndPropertiesVariableHeader)
                disconnectForBadAlias("ps-off", problemInformation(0)).variableHeader()).properties();
        assertNull(without.getProperty(MqttPropertyType.REASON_STRING.value()),
                "no reason string after Request Problem Information 0");
    }

    @Test
    void pubackSaysNoMatchingSubscribers() throws Exception {
        broker = TestBrokers.start(TestBrokers.config(data));
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            c.connect(RawMqttClient.connectV5("nomatch", true, 60, MqttProperties.NO_PROPERTIES));
            c.send(RawMqttClient.publish("nobody/listens", "x", 1, 5, false, false, MqttProperties.NO_PROPERTIES));
            MqttMessage ack = c.receive(MqttMessageType.PUBACK, 10_000);
            assertNotNull(ack, "PUBACK");
            assertEquals((byte) 0x10, ((MqttPubReplyMessageVariableHeader) ack.variableHeader()).reasonCode());

            c.send(RawMqttClient.subscribe(6, "some/listens", 1));
            assertNotNull(c.receive(MqttMessageType.SUBACK, 10_000));
            c.send(RawMqttClient.publish("some/listens", "x", 1, 7, false, false, MqttProperties.NO_PROPERTIES));
            MqttMessage matched = c.receive(MqttMessageType.PUBACK, 10_000);
            assertNotNull(matched, "PUBACK");
            assertEquals((byte) 0x00, ((MqttPubReplyMessageVariableHeader) matched.variableHeader()).reasonCode());
        }
    }
}
