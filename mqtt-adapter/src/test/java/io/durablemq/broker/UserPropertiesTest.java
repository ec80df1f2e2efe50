package io.durablemq.broker;

import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.eclipse.paho.mqttv5.common.packet.UserProperty;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * User properties that are a PUBLISH's only properties are forwarded, in order, repeated names
 * kept (MQTT-3.3.2-17/18), live and from a retained message; with Paho v5 and with
 * Debian's mosquitto_pub / mosquitto_sub -V 5 (skipped where mosquitto-clients is missing;
 * .ci/run installs it).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UserPropertiesTest {
    private static final List<String> SENT = List.of("a=2", "b=x", "a=1", "a=2");

    @RegisterExtension
    final RunningBroker broker = new RunningBroker();

    private MqttClient paho(String id, LinkedBlockingQueue<MqttMessage> arrived) throws Exception {
        MqttClient c = new MqttClient(broker.tcpUri(), id, new MemoryPersistence());
        c.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                arrived.add(message);
            }
        });
        c.connect(new MqttConnectionOptions());
        return c;
    }

    private static List<String> userProperties(MqttMessage m) {
        return m.getProperties().getUserProperties().stream().map(u -> u.getKey() + "=" + u.getValue()).toList();
    }

    /**
     * Order and repeated names through Paho v5. These two passed before the fix as well: Paho
     * (like HiveMQ's client) puts another property of its own into the PUBLISH, and any other
     * property hid the bug. mosquitto_pub sends exactly the user property, so the mosquitto test
     * below is the one that failed.
     */
    private static void publishWithOnlyUserProperties(MqttClient pub, String topic, boolean retain) throws Exception {
        MqttMessage m = new MqttMessage("hi".getBytes(StandardCharsets.UTF_8), 1, retain, null);
        MqttProperties props = new MqttProperties();
        props.setUserProperties(List.of(new UserProperty("a", "2"), new UserProperty("b", "x"),
                new UserProperty("a", "1"), new UserProperty("a", "2")));
        m.setProperties(props);
        pub.publish(topic, m);
    }

    @Test
    void onlyUserPropertiesArriveLiveInOrder() throws Exception {
        LinkedBlockingQueue<MqttMessage> arrived = new LinkedBlockingQueue<>();
        MqttClient sub = paho("up-sub", arrived);
        MqttClient pub = paho("up-pub", new LinkedBlockingQueue<>());
        try {
            sub.subscribe(new MqttSubscription[]{new MqttSubscription("up/#", 2)});
            publishWithOnlyUserProperties(pub, "up/live", false);
            MqttMessage m = arrived.poll(10, TimeUnit.SECONDS);
            assertNotNull(m, "delivered");
            assertEquals(SENT, userProperties(m));
        } finally {
            closeAll(sub, pub);
        }
    }

    @Test
    void onlyUserPropertiesArriveFromARetainedMessage() throws Exception {
        MqttClient pub = paho("upr-pub", new LinkedBlockingQueue<>());
        publishWithOnlyUserProperties(pub, "upr/kept", true);
        LinkedBlockingQueue<MqttMessage> arrived = new LinkedBlockingQueue<>();
        MqttClient sub = paho("upr-sub", arrived);
        try {
            sub.subscribe(new MqttSubscription[]{new MqttSubscription("upr/#", 1)});
            MqttMessage m = arrived.poll(10, TimeUnit.SECONDS);
            assertNotNull(m, "the retained message");
            assertTrue(m.isRetained(), "the retained copy");
            assertEquals(SENT, userProperties(m));
        } finally {
            closeAll(sub, pub);
        }
    }

    private static void closeAll(MqttClient... clients) throws Exception {
        for (MqttClient c : clients) {
            c.disconnect();
            c.close();
        }
    }

    // ---------------------------------------------------------------- mosquitto clients

    private List<String> mosquitto(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(args));
        command.addAll(1, List.of("-V", "5", "-h", "127.0.0.1", "-p", Integer.toString(broker.mqttPort())));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "finished: " + command);
        assertEquals(0, p.exitValue(), command + ":\n" + out);
        return out.isEmpty() ? List.of() : List.of(out.split("\n"));
    }

    /** The issue's own commands: {@code mosquitto_pub -D publish user-property a 2}, {@code mosquitto_sub -F '%t %p %P'}. */
    @Test
    void mosquittoUserPropertyAloneIsForwardedLiveAndRetained() throws Exception {
        assumeTrue(MosquittoClientsTest.onPath("mosquitto_pub") && MosquittoClientsTest.onPath("mosquitto_sub")
                && MosquittoClientsTest.onPath("stdbuf"), "mosquitto-clients (and stdbuf) not installed");
        List<String> command = List.of("stdbuf", "-oL", "mosquitto_sub", "-V", "5", "-h", "127.0.0.1",
                "-p", Integer.toString(broker.mqttPort()), "-i", "up-mq-sub", "-t", "upm/#", "-q", "1",
                "-F", "%t %p %P", "-C", "1", "-d", "-W", "30");
        Process sub = new ProcessBuilder(command).redirectErrorStream(true).start();
        BufferedReader lines = new BufferedReader(new InputStreamReader(sub.getInputStream(), StandardCharsets.UTF_8));
        List<String> seen = new ArrayList<>();
        String line;
        while ((line = lines.readLine()) != null) {
            seen.add(line);
            if (line.contains("SUBACK")) {
                break;
            }
        }
        assertTrue(seen.stream().anyMatch(l -> l.contains("SUBACK")), "subscribed: " + seen);
        mosquitto("mosquitto_pub", "-i", "up-mq-pub", "-t", "upm/x", "-q", "1", "-m", "hi",
                "-D", "publish", "user-property", "a", "2");
        while ((line = lines.readLine()) != null) {
            seen.add(line);
        }
        assertTrue(sub.waitFor(30, TimeUnit.SECONDS));
        assertTrue(seen.contains("upm/x hi a:2"), String.join("\n", seen));

        mosquitto("mosquitto_pub", "-i", "up-mq-pub", "-t", "upm/kept", "-q", "1", "-r", "-m", "kept",
                "-D", "publish", "user-property", "a", "2", "-D", "publish", "user-property", "a", "3");
        List<String> retained = mosquitto("mosquitto_sub", "-i", "up-mq-sub2", "-t", "upm/kept", "-q", "1",
                "-F", "%t %p %P", "-C", "1", "-W", "20");
        assertEquals(List.of("upm/kept kept a:2 a:3"), retained);
    }
}
