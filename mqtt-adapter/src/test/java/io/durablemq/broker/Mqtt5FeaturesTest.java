package io.durablemq.broker;

import com.hivemq.client.mqtt.MqttGlobalPublishFilter;
import com.hivemq.client.mqtt.datatypes.MqttQos;
import com.hivemq.client.mqtt.mqtt5.Mqtt5BlockingClient;
import com.hivemq.client.mqtt.mqtt5.Mqtt5Client;
import com.hivemq.client.mqtt.mqtt5.datatypes.Mqtt5UserProperty;
import com.hivemq.client.mqtt.mqtt5.message.connect.connack.Mqtt5ConnAck;
import com.hivemq.client.mqtt.mqtt5.message.publish.Mqtt5PayloadFormatIndicator;
import com.hivemq.client.mqtt.mqtt5.message.publish.Mqtt5Publish;
import com.hivemq.client.mqtt.mqtt5.message.subscribe.Mqtt5RetainHandling;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MQTT 5 features end to end with HiveMQ's client and Paho v5. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class Mqtt5FeaturesTest {
    @RegisterExtension
    final RunningBroker broker = new RunningBroker();

    private Mqtt5BlockingClient hivemq(String id) {
        return Mqtt5Client.builder().identifier(id).serverHost("127.0.0.1").serverPort(broker.mqttPort()).buildBlocking();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void publishPropertiesArriveIntact() throws Exception {
        Mqtt5BlockingClient sub = hivemq("props-sub");
        Mqtt5BlockingClient pub = hivemq("props-pub");
        sub.connect();
        pub.connect();
        try (Mqtt5BlockingClient.Mqtt5Publishes publishes = sub.publishes(MqttGlobalPublishFilter.ALL)) {
            sub.subscribeWith().topicFilter("props/#").qos(MqttQos.EXACTLY_ONCE).send();
            pub.publishWith().topic("props/a").qos(MqttQos.AT_LEAST_ONCE).payload(bytes("{\"v\":1}"))
                    .contentType("application/json")
                    .responseTopic("replies/props")
                    .correlationData(bytes("corr-42"))
                    .payloadFormatIndicator(Mqtt5PayloadFormatIndicator.UTF_8)
                    .messageExpiryInterval(120)
                    .userProperties().add("k1", "v1").add("k2", "v2").add("k1", "again").applyUserProperties()
                    .send();
            Mqtt5Publish got = publishes.receive(10, TimeUnit.SECONDS).orElseThrow();
            assertEquals("props/a", got.getTopic().toString());
            assertEquals("{\"v\":1}", new String(got.getPayloadAsBytes(), StandardCharsets.UTF_8));
            assertEquals(MqttQos.AT_LEAST_ONCE, got.getQos());
            assertEquals("application/json", got.getContentType().orElseThrow().toString());
            assertEquals("replies/props", got.getResponseTopic().orElseThrow().toString());
            assertEquals(ByteBuffer.wrap(bytes("corr-42")), got.getCorrelationData().orElseThrow());
            assertEquals(Mqtt5PayloadFormatIndicator.UTF_8, got.getPayloadFormatIndicator().orElseThrow());
            long expiry = got.getMessageExpiryInterval().orElseThrow();
            assertTrue(expiry > 100 && expiry <= 120, "remaining expiry " + expiry);
            List<String> users = got.getUserProperties().asList().stream()
                    .map(Mqtt5UserProperty::toString).collect(Collectors.toList());
            assertEquals(3, users.size(), users.toString());
            assertEquals(List.of("k1=v1", "k2=v2", "k1=again"), got.getUserProperties().asList().stream()
                    .map(p -> p.getName() + "=" + p.getValue()).collect(Collectors.toList()));
        } finally {
            sub.disconnect();
            pub.disconnect();
        }
    }

    @Test
    void emptyClientIdGetsAnAssignedOne() {
        Mqtt5BlockingClient client = Mqtt5Client.builder().serverHost("127.0.0.1").serverPort(broker.mqttPort()).buildBlocking();
        Mqtt5ConnAck ack = client.connect();
        assertTrue(ack.getAssignedClientIdentifier().isPresent(), "assigned client id");
        assertFalse(ack.getAssignedClientIdentifier().get().toString().isEmpty());
        client.disconnect();
    }

    @Test
    void noLocalSuppressesOwnMessages() throws Exception {
        Mqtt5BlockingClient self = hivemq("nolocal-self");
        Mqtt5BlockingClient other = hivemq("nolocal-other");
        self.connect();
        other.connect();
        try (Mqtt5BlockingClient.Mqtt5Publishes publishes = self.publishes(MqttGlobalPublishFilter.ALL)) {
            self.subscribeWith().topicFilter("nolocal").qos(MqttQos.AT_LEAST_ONCE).noLocal(true).send();
            self.publishWith().topic("nolocal").qos(MqttQos.AT_LEAST_ONCE).payload(bytes("mine")).send();
            other.publishWith().topic("nolocal").qos(MqttQos.AT_LEAST_ONCE).payload(bytes("theirs")).send();
            Mqtt5Publish got = publishes.receive(10, TimeUnit.SECONDS).orElseThrow();
            assertEquals("theirs", new String(got.getPayloadAsBytes(), StandardCharsets.UTF_8));
            assertTrue(publishes.receive(300, TimeUnit.MILLISECONDS).isEmpty());
        } finally {
            self.disconnect();
            other.disconnect();
        }
    }

    @Test
    void retainHandlingAndRetainAsPublished() throws Exception {
        Mqtt5BlockingClient pub = hivemq("retain-pub");
        pub.connect();
        pub.publishWith().topic("ret/a").qos(MqttQos.AT_LEAST_ONCE).retain(true).payload(bytes("stored")).send();

        Mqtt5BlockingClient send = hivemq("retain-send");
        Mqtt5BlockingClient never = hivemq("retain-never");
        Mqtt5BlockingClient asPublished = hivemq("retain-rap");
        send.connect();
        never.connect();
        asPublished.connect();
        try (Mqtt5BlockingClient.Mqtt5Publishes sendPubs = send.publishes(MqttGlobalPublishFilter.ALL);
             Mqtt5BlockingClient.Mqtt5Publishes neverPubs = never.publishes(MqttGlobalPublishFilter.ALL);
             Mqtt5BlockingClient.Mqtt5Publishes rapPubs = asPublished.publishes(MqttGlobalPublishFilter.ALL)) {
            send.subscribeWith().topicFilter("ret/#").qos(MqttQos.AT_LEAST_ONCE).send();
            never.subscribeWith().topicFilter("ret/#").qos(MqttQos.AT_LEAST_ONCE)
                    .retainHandling(Mqtt5RetainHandling.DO_NOT_SEND).send();
            asPublished.subscribeWith().topicFilter("ret/#").qos(MqttQos.AT_LEAST_ONCE)
                    .retainHandling(Mqtt5RetainHandling.DO_NOT_SEND).retainAsPublished(true).send();

            Mqtt5Publish retained = sendPubs.receive(10, TimeUnit.SECONDS).orElseThrow();
            assertEquals("stored", new String(retained.getPayloadAsBytes(), StandardCharsets.UTF_8));
            assertTrue(retained.isRetain(), "retained message on subscribe has RETAIN");
            assertTrue(neverPubs.receive(300, TimeUnit.MILLISECONDS).isEmpty(), "retain handling 2: none");

            pub.publishWith().topic("ret/a").qos(MqttQos.AT_LEAST_ONCE).retain(true).payload(bytes("live")).send();
            assertFalse(sendPubs.receive(10, TimeUnit.SECONDS).orElseThrow().isRetain(), "live message: RETAIN cleared");
            assertFalse(neverPubs.receive(10, TimeUnit.SECONDS).orElseThrow().isRetain());
            assertTrue(rapPubs.receive(10, TimeUnit.SECONDS).orElseThrow().isRetain(), "retain-as-published keeps RETAIN");
        } finally {
            pub.publishWith().topic("ret/a").qos(MqttQos.AT_LEAST_ONCE).retain(true).payload(new byte[0]).send();
            pub.disconnect();
            send.disconnect();
            never.disconnect();
            asPublished.disconnect();
        }
    }

    @Test
    void sharedSubscriptionDeliversEachMessageOnceAcrossTheGroup() throws Exception {
        Mqtt5BlockingClient a = hivemq("share-a");
        Mqtt5BlockingClient b = hivemq("share-b");
        Mqtt5BlockingClient pub = hivemq("share-pub");
        a.connect();
        b.connect();
        pub.connect();
        LinkedBlockingQueue<String> got = new LinkedBlockingQueue<>();
        Set<String> fromA = java.util.concurrent.ConcurrentHashMap.newKeySet();
        a.toAsync().publishes(MqttGlobalPublishFilter.ALL, p -> {
            String s = new String(p.getPayloadAsBytes(), StandardCharsets.UTF_8);
            fromA.add(s);
            got.add(s);
        });
        b.toAsync().publishes(MqttGlobalPublishFilter.ALL, p -> got.add(new String(p.getPayloadAsBytes(), StandardCharsets.UTF_8)));
        a.subscribeWith().topicFilter("$share/g1/shared/#").qos(MqttQos.AT_LEAST_ONCE).send();
        b.subscribeWith().topicFilter("$share/g1/shared/#").qos(MqttQos.AT_LEAST_ONCE).send();
        int n = 40;
        for (int i = 0; i < n; i++) {
            pub.publishWith().topic("shared/t").qos(MqttQos.AT_LEAST_ONCE).payload(bytes(Integer.toString(i))).send();
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < n; i++) {
            String s = got.poll(10, TimeUnit.SECONDS);
            assertTrue(s != null, "message " + i + " of " + n + " arrived");
            assertTrue(seen.add(s), "delivered twice: " + s);
        }
        assertEquals(null, got.poll(300, TimeUnit.MILLISECONDS));
        a.disconnect();
        b.disconnect();
        pub.disconnect();
    }

    @Test
    void subscriptionIdentifiersAreSentWithMatchingMessages() throws Exception {
        CompletableFuture<MqttMessage> arrived = new CompletableFuture<>();
        MqttAsyncClient sub = new MqttAsyncClient(broker.tcpUri(), "subid-sub", new MemoryPersistence());
        sub.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                arrived.complete(message);
            }
        });
        sub.connect(new MqttConnectionOptions()).waitForCompletion(10_000);
        MqttProperties props = new MqttProperties();
        props.setSubscriptionIdentifier(77);
        sub.subscribe(new MqttSubscription[]{new MqttSubscription("subid/#", 1)}, null, null, props)
                .waitForCompletion(10_000);
        MqttClient pub = new MqttClient(broker.tcpUri(), "subid-pub", new MemoryPersistence());
        pub.connect(new MqttConnectionOptions());
        pub.publish("subid/x", bytes("hello"), 1, false);
        MqttMessage m = arrived.get(10, TimeUnit.SECONDS);
        assertEquals(List.of(77), m.getProperties().getSubscriptionIdentifiers());
        pub.disconnect();
        sub.disconnect().waitForCompletion(10_000);
        pub.close();
        sub.close();
    }

    @Test
    void sessionTakeoverDisconnectsTheOldConnectionWithReason0x8E() throws Exception {
        CompletableFuture<MqttDisconnectResponse> disconnected = new CompletableFuture<>();
        MqttClient first = new MqttClient(broker.tcpUri(), "takeover", new MemoryPersistence());
        first.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void disconnected(MqttDisconnectResponse response) {
                disconnected.complete(response);
            }
        });
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setAutomaticReconnect(false);
        first.connect(options);
        MqttClient second = new MqttClient(broker.tcpUri(), "takeover", new MemoryPersistence());
        second.connect(options);
        MqttDisconnectResponse response = disconnected.get(10, TimeUnit.SECONDS);
        assertEquals(0x8E, response.getReturnCode(), response.toString());
        assertTrue(second.isConnected());
        second.disconnect();
        second.close();
        first.close(true);
    }

    @Test
    void cleanStartDiscardsTheOldSession() throws Exception {
        Mqtt5BlockingClient sub = hivemq("clean-sub");
        Mqtt5ConnAck first = sub.connectWith().cleanStart(true).sessionExpiryInterval(300).send();
        assertFalse(first.isSessionPresent());
        sub.subscribeWith().topicFilter("clean/t").qos(MqttQos.AT_LEAST_ONCE).send();
        sub.disconnect();
        Mqtt5BlockingClient pub = hivemq("clean-pub");
        pub.connect();
        pub.publishWith().topic("clean/t").qos(MqttQos.AT_LEAST_ONCE).payload(bytes("queued")).send();

        Mqtt5ConnAck resumed = sub.connectWith().cleanStart(false).sessionExpiryInterval(300).send();
        assertTrue(resumed.isSessionPresent(), "session kept for 300 s");
        sub.disconnect();
        pub.publishWith().topic("clean/t").qos(MqttQos.AT_LEAST_ONCE).payload(bytes("queued-again")).send();

        // A new client object: HiveMQ's client reports a lost session of its own as an error.
        Mqtt5BlockingClient fresher = hivemq("clean-sub");
        try (Mqtt5BlockingClient.Mqtt5Publishes publishes = fresher.publishes(MqttGlobalPublishFilter.ALL)) {
            Mqtt5ConnAck fresh = fresher.connectWith().cleanStart(true).send();
            assertFalse(fresh.isSessionPresent(), "clean start: no session present");
            Optional<Mqtt5Publish> leftover = publishes.receive(500, TimeUnit.MILLISECONDS);
            assertTrue(leftover.isEmpty(), "queued message discarded with the session");
        }
        fresher.disconnect();
        pub.disconnect();
    }
}
