package io.durablemq.broker;

import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Retained messages and wills (3.1.1 and MQTT 5, including the will delay). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WillAndRetainedTest {
    @RegisterExtension
    final RunningBroker broker = new RunningBroker();

    private static MqttConnectMessage withWill(MqttVersion version, String clientId, String topic, String payload,
                                               MqttProperties connectProps, MqttProperties willProps) {
        return MqttMessageBuilders.connect().protocolVersion(version).clientId(clientId).cleanSession(true)
                .keepAlive(60).willFlag(true).willTopic(topic).willQoS(MqttQoS.AT_LEAST_ONCE)
                .willMessage(payload.getBytes(StandardCharsets.UTF_8))
                .properties(connectProps == null ? MqttProperties.NO_PROPERTIES : connectProps)
                .willProperties(willProps == null ? MqttProperties.NO_PROPERTIES : willProps)
                .build();
    }

    @Test
    void retainedMessageReachesLaterSubscribersUntilCleared() throws Exception {
        String uri = broker.tcpUri();
        try (PahoV3 pub = PahoV3.connect(uri, "ret-pub", true)) {
            pub.publishRetained("status/device1", "online", 1);
            try (PahoV3 late = PahoV3.connect(uri, "ret-late", true)) {
                late.client.subscribe("status/+", 1);
                PahoV3.Received r = late.next(5_000);
                assertNotNull(r);
                assertEquals("online", r.payload());
                assertTrue(r.retained(), "RETAIN flag on a retained message sent at subscribe");
            }
            pub.publishRetained("status/device1", "", 1); // an empty retained message clears it
            try (PahoV3 later = PahoV3.connect(uri, "ret-later", true)) {
                later.client.subscribe("status/+", 1);
                assertNull(later.next(500), "cleared");
            }
        }
    }

    @Test
    void willIsPublishedWhenTheConnectionDropsButNotAfterDisconnect() throws Exception {
        try (PahoV3 watcher = PahoV3.connect(broker.tcpUri(), "will-watch", true)) {
            watcher.client.subscribe("wills/#", 1);
            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                c.connect(withWill(MqttVersion.MQTT_3_1_1, "will-polite", "wills/polite", "gone", null, null));
                c.send(MqttMessageBuilders.disconnect().build());
                c.awaitClosed(5_000);
            }
            assertNull(watcher.next(500), "no will after DISCONNECT");

            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                c.connect(withWill(MqttVersion.MQTT_3_1_1, "will-crash", "wills/crash", "lost", null, null));
            } // socket closed without DISCONNECT
            PahoV3.Received will = watcher.next(5_000);
            assertNotNull(will, "will published");
            assertEquals("wills/crash", will.topic());
            assertEquals("lost", will.payload());

            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                c.connect(withWill(MqttVersion.MQTT_5, "will-04", "wills/04", "asked", null, null));
                c.send(MqttMessageBuilders.disconnect().reasonCode((byte) 0x04).build());
                c.awaitClosed(5_000);
            }
            PahoV3.Received asked = watcher.next(5_000);
            assertNotNull(asked, "DISCONNECT 0x04 publishes the will");
            assertEquals("asked", asked.payload());
        }
    }

    @Test
    void willDelayHoldsTheWillAndAReconnectCancelsIt() throws Exception {
        MqttProperties expiry = new MqttProperties();
        expiry.add(new MqttProperties.IntegerProperty(MqttPropertyType.SESSION_EXPIRY_INTERVAL.value(), 60));
        MqttProperties delay = new MqttProperties();
        delay.add(new MqttProperties.IntegerProperty(MqttPropertyType.WILL_DELAY_INTERVAL.value(), 2));
        try (PahoV3 watcher = PahoV3.connect(broker.tcpUri(), "delay-watch", true)) {
            watcher.client.subscribe("delayed/#", 1);

            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                c.connect(withWill(MqttVersion.MQTT_5, "delay-a", "delayed/a", "late", expiry, delay));
            }
            long dropped = System.nanoTime();
            assertNull(watcher.next(1_000), "not before the delay");
            PahoV3.Received will = watcher.next(5_000);
            assertNotNull(will, "after the delay");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - dropped);
            assertTrue(ms >= 1_800, "will after " + ms + " ms");

            // A longer delay for the second client, so a reconnect on a loaded machine still
            // lands inside it; then wait past it to see that the will never comes.
            MqttProperties longDelay = new MqttProperties();
            longDelay.add(new MqttProperties.IntegerProperty(MqttPropertyType.WILL_DELAY_INTERVAL.value(), 6));
            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                c.connect(withWill(MqttVersion.MQTT_5, "delay-b", "delayed/b", "never", expiry, longDelay));
            }
            long droppedB = System.nanoTime();
            MqttConnectMessage resume = MqttMessageBuilders.connect().protocolVersion(MqttVersion.MQTT_5)
                    .clientId("delay-b").cleanSession(false).keepAlive(60).properties(expiry).build();
            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                c.connect(resume);
                long reconnectMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - droppedB);
                assertTrue(reconnectMs < 6_000, "reconnected within the will delay (" + reconnectMs + " ms)");
                assertNull(watcher.next(6_000 - reconnectMs + 1_500), "reconnect within the delay cancels the will");
                c.send(MqttMessageBuilders.disconnect().build());
            }
        }
    }
}
