package io.durablemq.broker;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/** QoS 0/1/2 through the broker with Paho 3.1.1 clients, including the downgrade to the subscription's QoS. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QosRoundTripTest {
    @RegisterExtension
    final RunningBroker broker = new RunningBroker();

    @Test
    void everyQosArrivesAtTheMinimumOfPublishedAndSubscribedQos() throws Exception {
        String uri = broker.tcpUri();
        try (PahoV3 sub0 = PahoV3.connect(uri, "sub0", true);
             PahoV3 sub1 = PahoV3.connect(uri, "sub1", true);
             PahoV3 sub2 = PahoV3.connect(uri, "sub2", true);
             PahoV3 pub = PahoV3.connect(uri, "pub", true)) {
            sub0.client.subscribe("qos/#", 0);
            sub1.client.subscribe("qos/#", 1);
            sub2.client.subscribe("qos/#", 2);
            for (int qos = 0; qos <= 2; qos++) {
                pub.publish("qos/" + qos, "m" + qos, qos);
            }
            PahoV3[] subs = {sub0, sub1, sub2};
            for (int subQos = 0; subQos <= 2; subQos++) {
                List<PahoV3.Received> got = subs[subQos].take(3, 10_000);
                assertEquals(3, got.size(), "subscriber with QoS " + subQos + " got " + got);
                for (PahoV3.Received r : got) {
                    int published = Integer.parseInt(r.topic().substring("qos/".length()));
                    assertEquals("m" + published, r.payload());
                    assertEquals(Math.min(published, subQos), r.qos(), "delivered QoS of " + r);
                }
                assertNull(subs[subQos].next(200), "no extra message");
            }
        }
    }

    @Test
    void manyQos1And2MessagesArriveExactlyOnceAndInOrderPerQos() throws Exception {
        String uri = broker.tcpUri();
        try (PahoV3 sub = PahoV3.connect(uri, "orderSub", true);
             PahoV3 pub = PahoV3.connect(uri, "orderPub", true)) {
            sub.client.subscribe("order", 2);
            int n = 300;
            for (int i = 0; i < n; i++) {
                pub.publish("order", Integer.toString(i), 1 + (i % 2));
            }
            List<PahoV3.Received> got = sub.take(n, 30_000);
            assertEquals(n, got.size());
            // MQTT orders messages per QoS level (Paho hands a QoS 2 message over only at PUBREL).
            int[] lastByQos = {-1, -1, -1};
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (PahoV3.Received r : got) {
                int i = Integer.parseInt(r.payload());
                assertEquals(1 + (i % 2), r.qos());
                assertEquals(true, seen.add(r.payload()), "duplicate " + r);
                assertEquals(true, i > lastByQos[r.qos()], "out of order within QoS " + r.qos() + ": " + i);
                lastByQos[r.qos()] = i;
            }
            assertNull(sub.next(200));
        }
    }

    @Test
    void unsubscribeStopsDelivery() throws Exception {
        String uri = broker.tcpUri();
        try (PahoV3 sub = PahoV3.connect(uri, "unsubSub", true);
             PahoV3 pub = PahoV3.connect(uri, "unsubPub", true)) {
            sub.client.subscribe("u/+", 1);
            pub.publish("u/a", "before", 1);
            assertNotNull(sub.next(5_000));
            sub.client.unsubscribe("u/+");
            pub.publish("u/a", "after", 1);
            assertNull(sub.next(500));
        }
    }
}
