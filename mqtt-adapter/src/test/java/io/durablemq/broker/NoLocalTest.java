package io.durablemq.broker;

import com.hivemq.client.mqtt.MqttGlobalPublishFilter;
import com.hivemq.client.mqtt.datatypes.MqttQos;
import com.hivemq.client.mqtt.mqtt5.Mqtt5BlockingClient;
import com.hivemq.client.mqtt.mqtt5.Mqtt5Client;
import com.hivemq.client.mqtt.mqtt5.message.publish.Mqtt5Publish;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MQTT 5 No Local (section 3.8.3.1) with more than one subscriber: it removes only the
 * publisher's own subscription from the routing, never the others'.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NoLocalTest {
    @RegisterExtension
    final RunningBroker broker = new RunningBroker();

    private Mqtt5BlockingClient hivemq(String id) {
        return Mqtt5Client.builder().identifier(id).serverHost("127.0.0.1").serverPort(broker.mqttPort()).buildBlocking();
    }

    /** Who subscribes first, the filters each uses, the publish QoS, and whether the broker assigns the client ids. */
    record Case(String name, boolean bFirst, String filterA, String filterB, MqttQos publishQos, boolean assignedIds) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("same topic, A first, QoS 1", false, "nl2/t", "nl2/t", MqttQos.AT_LEAST_ONCE, false),
                new Case("same topic, B first, QoS 1", true, "nl2/t", "nl2/t", MqttQos.AT_LEAST_ONCE, false),
                new Case("same topic, QoS 2", false, "nl2/t", "nl2/t", MqttQos.EXACTLY_ONCE, false),
                new Case("same topic, QoS 0", false, "nl2/t", "nl2/t", MqttQos.AT_MOST_ONCE, false),
                new Case("wildcards", false, "nl2/+", "nl2/#", MqttQos.AT_LEAST_ONCE, false),
                new Case("server-assigned client ids", false, "nl2/t", "nl2/t", MqttQos.AT_LEAST_ONCE, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void twoNoLocalSubscribersTheOtherOneReceives(Case c) throws Exception {
        Mqtt5BlockingClient a = hivemq(c.assignedIds() ? "" : "nl2-a");
        Mqtt5BlockingClient b = hivemq(c.assignedIds() ? "" : "nl2-b");
        a.connectWith().cleanStart(true).send();
        b.connectWith().cleanStart(true).send();
        try (Mqtt5BlockingClient.Mqtt5Publishes aGets = a.publishes(MqttGlobalPublishFilter.ALL);
             Mqtt5BlockingClient.Mqtt5Publishes bGets = b.publishes(MqttGlobalPublishFilter.ALL)) {
            if (c.bFirst()) {
                b.subscribeWith().topicFilter(c.filterB()).qos(MqttQos.EXACTLY_ONCE).noLocal(true).send();
            }
            a.subscribeWith().topicFilter(c.filterA()).qos(MqttQos.EXACTLY_ONCE).noLocal(true).send();
            if (!c.bFirst()) {
                b.subscribeWith().topicFilter(c.filterB()).qos(MqttQos.EXACTLY_ONCE).noLocal(true).send();
            }

            a.publishWith().topic("nl2/t").qos(c.publishQos())
                    .payload("from-a".getBytes(StandardCharsets.UTF_8)).send();

            Optional<Mqtt5Publish> atB = bGets.receive(10, TimeUnit.SECONDS);
            assertTrue(atB.isPresent(), "B (another client) receives A's message");
            assertEquals("from-a", new String(atB.get().getPayloadAsBytes(), StandardCharsets.UTF_8));
            assertEquals(c.publishQos(), atB.get().getQos());

            // A's own copy would have been routed before B's next message: a message from B
            // that A does receive shows A's own copy was never queued.
            b.publishWith().topic("nl2/t").qos(MqttQos.AT_LEAST_ONCE)
                    .payload("from-b".getBytes(StandardCharsets.UTF_8)).send();
            Mqtt5Publish atA = aGets.receive(10, TimeUnit.SECONDS).orElseThrow();
            assertEquals("from-b", new String(atA.getPayloadAsBytes(), StandardCharsets.UTF_8),
                    "A must not receive its own message");
            assertTrue(bGets.receive(300, TimeUnit.MILLISECONDS).isEmpty(), "B does not get its own message back");
        } finally {
            a.disconnect();
            b.disconnect();
        }
    }

    private MqttClient paho(String id, LinkedBlockingQueue<String> arrived) throws Exception {
        MqttClient c = new MqttClient(broker.tcpUri(), id, new MemoryPersistence());
        c.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                arrived.add(new String(message.getPayload(), StandardCharsets.UTF_8));
            }
        });
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        c.connect(options);
        MqttSubscription s = new MqttSubscription("nl3/t", 2);
        s.setNoLocal(true);
        c.subscribe(new MqttSubscription[]{s});
        return c;
    }

    @Test
    void twoNoLocalSubscribersWithPaho() throws Exception {
        LinkedBlockingQueue<String> atA = new LinkedBlockingQueue<>();
        LinkedBlockingQueue<String> atB = new LinkedBlockingQueue<>();
        MqttClient a = paho("nl3-a", atA);
        MqttClient b = paho("nl3-b", atB);
        try {
            a.publish("nl3/t", "from-a".getBytes(StandardCharsets.UTF_8), 1, false);
            assertEquals("from-a", atB.poll(10, TimeUnit.SECONDS), "B (another client) receives A's message");
            b.publish("nl3/t", "from-b".getBytes(StandardCharsets.UTF_8), 1, false);
            assertEquals("from-b", atA.poll(10, TimeUnit.SECONDS), "A must not receive its own message");
            assertEquals(null, atB.poll(300, TimeUnit.MILLISECONDS), "B does not get its own message back");
        } finally {
            a.disconnect();
            b.disconnect();
            a.close();
            b.close();
        }
    }
}
