package io.durablemq.broker;

import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.eclipse.paho.mqttv5.common.packet.UserProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every MQTT 5 PUBLISH property a client may send arrives unchanged (the Message Expiry
 * Interval counted down, the subscriber's own subscription identifiers added): payload format
 * indicator, message expiry, content type, response topic, correlation data, user properties
 * with repeated names in order. Live; queued while the subscriber is offline; queued across a
 * broker restart on the same data folder; from a retained message (also after the restart).
 * Paho v5 on both ends (it lets a subscriber set and read subscription identifiers).
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class PropertyRoundTripTest {
    private static final long EXPIRY_SECONDS = 3_600;
    /** Two overlapping subscriptions of the subscriber, each with its identifier. */
    private static final String FILTER_ALL = "rt/#";
    private static final int ID_ALL = 42;
    private static final String FILTER_X = "rt/+/x";
    private static final int ID_X = 7;
    /** Long enough that a countdown of whole seconds is visible in the remaining expiry. */
    private static final long OFFLINE_MILLIS = 2_100;
    private static final long WAIT = 10_000;

    @RegisterExtension
    final RunningBroker broker = new RunningBroker();
    private final List<MqttAsyncClient> clients = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (MqttAsyncClient c : clients) {
            if (c.isConnected()) {
                c.disconnect().waitForCompletion(WAIT);
            }
            c.close();
        }
    }

    // ---------------------------------------------------------------- what is sent, what must arrive

    /** The PUBLISH as its publisher sends it (no subscription identifier: a client may not send one). */
    private static MqttMessage message(String text, int qos, boolean retain) {
        MqttMessage m = new MqttMessage(text.getBytes(StandardCharsets.UTF_8), qos, retain, null);
        MqttProperties p = new MqttProperties();
        p.setPayloadFormat(true);
        p.setMessageExpiryInterval(EXPIRY_SECONDS);
        p.setContentType("application/json; charset=utf-8");
        p.setResponseTopic("replies/" + text);
        p.setCorrelationData(("corr-" + text + "-\u0000\u00ff").getBytes(StandardCharsets.ISO_8859_1));
        p.setUserProperties(List.of(new UserProperty("k", "1"), new UserProperty("other", "x"),
                new UserProperty("k", "2"), new UserProperty("k", "1"), new UserProperty("ünï", "çødé")));
        m.setProperties(p);
        return m;
    }

    private static List<String> users(MqttProperties p) {
        return p.getUserProperties().stream().map(u -> u.getKey() + "=" + u.getValue()).toList();
    }

    /**
     * Compares what arrived with what was sent. The remaining expiry must lie between what the
     * clocks allow: at most the interval minus the whole seconds certainly elapsed between the
     * broker having the message (before {@code publishedBy}) and sending it (after
     * {@code deliverableFrom}), at least the interval minus the seconds elapsed from
     * {@code publishStart} to now, with one second for the broker's rounding up.
     */
    private static void assertArrivedIntact(MqttMessage sent, MqttMessage got, List<Integer> subscriptionIds,
                                            long publishStart, long publishedBy, long deliverableFrom) {
        MqttProperties s = sent.getProperties();
        MqttProperties g = got.getProperties();
        assertEquals(new String(sent.getPayload(), StandardCharsets.UTF_8), new String(got.getPayload(), StandardCharsets.UTF_8));
        assertEquals(Boolean.TRUE, g.getPayloadFormat(), "payload format indicator");
        assertEquals(s.getContentType(), g.getContentType(), "content type");
        assertEquals(s.getResponseTopic(), g.getResponseTopic(), "response topic");
        assertArrayEquals(s.getCorrelationData(), g.getCorrelationData(), "correlation data");
        assertEquals(users(s), users(g), "user properties, in order, repeated names kept");
        assertEquals(subscriptionIds.stream().sorted().toList(),
                g.getSubscriptionIdentifiers().stream().sorted().toList(), "the subscriber's subscription identifiers");
        Long remaining = g.getMessageExpiryInterval();
        assertNotNull(remaining, "message expiry interval");
        long certainlyElapsed = Math.max(0, (deliverableFrom - publishedBy) / 1000);
        long atMostElapsed = (System.currentTimeMillis() - publishStart) / 1000 + 1;
        assertTrue(remaining <= EXPIRY_SECONDS - certainlyElapsed + 1 && remaining >= EXPIRY_SECONDS - atMostElapsed,
                "remaining expiry " + remaining + " of " + EXPIRY_SECONDS + " s, " + certainlyElapsed
                        + " s certainly elapsed, at most " + atMostElapsed);
    }

    // ---------------------------------------------------------------- clients

    private MqttAsyncClient client(String id, LinkedBlockingQueue<MqttMessage> arrived, boolean persistent) throws Exception {
        MqttAsyncClient c = new MqttAsyncClient(broker.tcpUri(), id, new MemoryPersistence());
        clients.add(c);
        c.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                arrived.add(message);
            }
        });
        MqttConnectionOptions o = new MqttConnectionOptions();
        o.setCleanStart(!persistent);
        if (persistent) {
            o.setSessionExpiryInterval(EXPIRY_SECONDS);
        }
        o.setAutomaticReconnect(false);
        c.connect(o).waitForCompletion(WAIT);
        return c;
    }

    private static void subscribeBoth(MqttAsyncClient sub) throws Exception {
        subscribe(sub, FILTER_ALL, ID_ALL);
        subscribe(sub, FILTER_X, ID_X);
    }

    private static void subscribe(MqttAsyncClient sub, String filter, int id) throws Exception {
        MqttProperties p = new MqttProperties();
        p.setSubscriptionIdentifier(id);
        sub.subscribe(new MqttSubscription[]{new MqttSubscription(filter, 2)}, null, null, p).waitForCompletion(WAIT);
    }

    private static MqttMessage next(LinkedBlockingQueue<MqttMessage> arrived, String what) throws InterruptedException {
        MqttMessage m = arrived.poll(15, TimeUnit.SECONDS);
        assertNotNull(m, what + " arrived");
        return m;
    }

    /** The next {@code n} messages by payload: Paho hands QoS 1 and QoS 2 messages to the application at different points. */
    private static Map<String, MqttMessage> byPayload(LinkedBlockingQueue<MqttMessage> arrived, int n)
            throws InterruptedException {
        Map<String, MqttMessage> out = new HashMap<>();
        for (int i = 0; i < n; i++) {
            MqttMessage m = next(arrived, "message " + (i + 1) + " of " + n);
            assertNull(out.put(new String(m.getPayload(), StandardCharsets.UTF_8), m), "delivered once");
        }
        return out;
    }

    // ---------------------------------------------------------------- the four ways

    @Test
    void live() throws Exception {
        LinkedBlockingQueue<MqttMessage> arrived = new LinkedBlockingQueue<>();
        MqttAsyncClient sub = client("rt-live-sub", arrived, false);
        subscribeBoth(sub);
        MqttAsyncClient pub = client("rt-live-pub", new LinkedBlockingQueue<>(), false);
        for (int qos = 1; qos <= 2; qos++) {
            MqttMessage sent = message("live" + qos, qos, false);
            long before = System.currentTimeMillis();
            pub.publish("rt/live/x", sent).waitForCompletion(WAIT);
            long after = System.currentTimeMillis();
            assertArrivedIntact(sent, next(arrived, "live QoS " + qos), List.of(ID_ALL, ID_X), before, after, before);
        }
        MqttMessage onlyAll = message("live-y", 1, false);
        long before = System.currentTimeMillis();
        pub.publish("rt/live/y", onlyAll).waitForCompletion(WAIT);
        assertArrivedIntact(onlyAll, next(arrived, "live, one matching subscription"), List.of(ID_ALL),
                before, System.currentTimeMillis(), before);
    }

    @Test
    void queuedWhileOfflineAndAcrossARestart() throws Exception {
        LinkedBlockingQueue<MqttMessage> arrived = new LinkedBlockingQueue<>();
        MqttAsyncClient sub = client("rt-queue-sub", arrived, true);
        subscribeBoth(sub);
        sub.disconnect().waitForCompletion(WAIT);

        MqttAsyncClient pub = client("rt-queue-pub", new LinkedBlockingQueue<>(), false);
        MqttMessage offline = message("offline", 2, false);
        long start1 = System.currentTimeMillis();
        pub.publish("rt/q/x", offline).waitForCompletion(WAIT);
        long end1 = System.currentTimeMillis();
        MqttMessage beforeRestart = message("restart", 1, false);
        MqttMessage retainedBeforeRestart = message("retained-restart", 1, true);
        long start2 = System.currentTimeMillis();
        pub.publish("rt/r/x", beforeRestart).waitForCompletion(WAIT);
        pub.publish("rt/kept/x", retainedBeforeRestart).waitForCompletion(WAIT);
        long end2 = System.currentTimeMillis();
        Thread.sleep(OFFLINE_MILLIS); // the expiry counts down while the messages wait

        // 1. offline queue, delivered on reconnect
        long reconnect = System.currentTimeMillis();
        MqttAsyncClient back = client("rt-queue-sub", arrived, true);
        Map<String, MqttMessage> queued = byPayload(arrived, 3);
        assertArrivedIntact(offline, queued.get("offline"), List.of(ID_ALL, ID_X), start1, end1, reconnect);
        assertArrivedIntact(beforeRestart, queued.get("restart"), List.of(ID_ALL, ID_X), start2, end2, reconnect);
        // the retained one was routed to the persistent subscription like any other message
        assertArrivedIntact(retainedBeforeRestart, queued.get("retained-restart"), List.of(ID_ALL, ID_X),
                start2, end2, reconnect);
        back.disconnect().waitForCompletion(WAIT);

        // 2. queued again, then the broker restarts on the same data folder
        MqttMessage acrossRestart = message("across", 2, false);
        long start3 = System.currentTimeMillis();
        pub.publish("rt/a/x", acrossRestart).waitForCompletion(WAIT);
        long end3 = System.currentTimeMillis();
        pub.disconnect().waitForCompletion(WAIT);
        broker.restart();
        Thread.sleep(OFFLINE_MILLIS);
        long afterRestart = System.currentTimeMillis();
        client("rt-queue-sub", arrived, true);
        assertArrivedIntact(acrossRestart, next(arrived, "queued across the restart"), List.of(ID_ALL, ID_X),
                start3, end3, afterRestart);

        // 3. the retained message after the restart, to a new subscriber
        LinkedBlockingQueue<MqttMessage> fresh = new LinkedBlockingQueue<>();
        MqttAsyncClient late = client("rt-late-sub", fresh, false);
        long subscribed = System.currentTimeMillis();
        subscribe(late, "rt/kept/#", 9);
        MqttMessage got = next(fresh, "retained after the restart");
        assertTrue(got.isRetained(), "RETAIN set on a retained message sent at subscribe");
        assertArrivedIntact(retainedBeforeRestart, got, List.of(9), start2, end2, subscribed);
    }

    @Test
    void fromARetainedMessage() throws Exception {
        MqttAsyncClient pub = client("rt-ret-pub", new LinkedBlockingQueue<>(), false);
        MqttMessage sent = message("retained", 2, true);
        long before = System.currentTimeMillis();
        pub.publish("rt/ret/x", sent).waitForCompletion(WAIT);
        long after = System.currentTimeMillis();
        Thread.sleep(OFFLINE_MILLIS);

        LinkedBlockingQueue<MqttMessage> arrived = new LinkedBlockingQueue<>();
        MqttAsyncClient sub = client("rt-ret-sub", arrived, false);
        long subscribed = System.currentTimeMillis();
        subscribe(sub, FILTER_X, ID_X);
        MqttMessage got = next(arrived, "retained");
        assertTrue(got.isRetained(), "RETAIN set on a retained message sent at subscribe");
        assertArrivedIntact(sent, got, List.of(ID_X), before, after, subscribed);
        pub.publish("rt/ret/x", new MqttMessage(new byte[0], 1, true, null)).waitForCompletion(WAIT); // clear it
    }
}
