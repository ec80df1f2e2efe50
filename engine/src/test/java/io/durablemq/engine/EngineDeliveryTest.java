package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.message.UserProperty;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.SubscribeResult;
import io.durablemq.engine.topic.Subscription;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;

import static io.durablemq.engine.support.EngineFixture.await;
import static io.durablemq.engine.support.EngineFixture.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EngineDeliveryTest {
    private static final Duration QUIET = Duration.ofMillis(200);
    private static final long PERSISTENT = 3600;

    @TempDir
    Path dir;
    EngineFixture fx;

    @BeforeEach
    void open() {
        fx = new EngineFixture(dir);
    }

    @AfterEach
    void close() {
        fx.close();
    }

    @Test
    void qos1RoundTripDeliversWithPacketIdAndCompletesOnPuback() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("a/b", 1);
        Connected pub = fx.connect("pub", true, 0);
        PublishResult r = pub.publish(1, "a/b", "hello", 1);
        assertEquals(PublishResult.Status.ACCEPTED, r.status());
        assertEquals(1, r.matchedSessions());

        OutboundPublish p = sub.listener().nextPublish();
        assertEquals("hello", text(p.message()));
        assertEquals(1, p.qos());
        assertFalse(p.dup());
        assertTrue(p.packetId() > 0);
        assertEquals(1, fx.engine().stats().inflightMessages());
        await(sub.handle().puback(p.packetId()));
        assertEquals(0, fx.engine().stats().inflightMessages());
        assertEquals(0, fx.engine().stats().storedBodies());
        assertEquals(1.0, fx.counter("durablemq.messages.acknowledged", "qos", "1"));
    }

    /** A client that acknowledges from inside the callback, as the crash test's driver does. */
    private static final class AckingAtOnce implements SessionListener {
        final java.util.concurrent.LinkedBlockingQueue<String> received = new java.util.concurrent.LinkedBlockingQueue<>();
        volatile io.durablemq.engine.session.SessionHandle handle;

        @Override
        public void onPublish(OutboundPublish p) {
            received.add(text(p.message()));
            handle.puback(p.packetId());
        }

        @Override
        public void onPubrel(int packetId) {
        }

        @Override
        public void onSessionClosed(CloseReason reason) {
        }
    }

    @Test
    void listenersThatAcknowledgeInsideTheCallbackGetEveryMessage() throws Exception {
        List<AckingAtOnce> subs = List.of(new AckingAtOnce(), new AckingAtOnce(), new AckingAtOnce());
        for (int i = 0; i < subs.size(); i++) {
            AckingAtOnce l = subs.get(i);
            l.handle = await(fx.engine().connect(new ConnectRequest("ack-" + i, true, PERSISTENT, 4), l));
            await(l.handle.subscribe(List.of(Subscription.of("fan", 1))));
            l.handle.startDelivery();
        }
        Connected pub = fx.connect("pub", true, 0);
        for (int m = 0; m < 50; m++) {
            pub.publish(m + 1, "fan", "m" + m, 1);
        }
        for (AckingAtOnce l : subs) {
            for (int m = 0; m < 50; m++) {
                assertEquals("m" + m, l.received.poll(10, java.util.concurrent.TimeUnit.SECONDS));
            }
        }
        long deadline = System.currentTimeMillis() + 10_000;
        while (fx.engine().stats().storedBodies() > 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, fx.engine().stats().storedBodies(), "every body deleted after the last ack");
        assertEquals(0, fx.engine().stats().inflightMessages());
    }

    @Test
    void gaugesKeepReportingAfterGarbageCollection() {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("g", 1);
        sub.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "g", "a", 1);
        pub.publish(2, "g", "b", 1);
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        assertEquals(2.0, fx.meters().get("durablemq.queue.messages").gauge().value());
        assertEquals(2.0, fx.meters().get("durablemq.stored.messages").gauge().value());
        assertEquals(1.0, fx.meters().get("durablemq.sessions").tag("state", "offline").gauge().value());
        assertTrue(fx.meters().get("durablemq.store.size").gauge().value() > 0);
    }

    @Test
    void largestQueuesAreExportedPerSessionWithBoundedLabels() {
        for (int i = 0; i < Engine.LARGEST_QUEUES_EXPORTED + 2; i++) {
            Connected s = fx.connect("q" + i, false, PERSISTENT);
            s.subscribe("lq/" + i, 1);
            s.disconnect();
        }
        Connected pub = fx.connect("pub", true, 0);
        for (int i = 0; i < Engine.LARGEST_QUEUES_EXPORTED + 2; i++) {
            for (int m = 0; m <= i; m++) {
                pub.publish(1, "lq/" + i, "x", 1); // session qI holds I+1 messages
            }
        }
        fx.engine().sampleLargestQueues();
        var gauges = fx.meters().find("durablemq.session.queue.messages").gauges();
        assertEquals(Engine.LARGEST_QUEUES_EXPORTED, gauges.size(), "only the top N sessions have a series");
        int top = Engine.LARGEST_QUEUES_EXPORTED + 1;
        assertEquals(top + 1.0, fx.meters().get("durablemq.session.queue.messages").tag("client_id", "q" + top)
                .gauge().value());
        assertTrue(fx.meters().find("durablemq.session.queue.messages").tag("client_id", "q0").gauges().isEmpty(),
                "the smallest queue is not among the exported");
        assertTrue(fx.meters().get("durablemq.rocksdb.estimated.keys").gauge().value() > 0);
    }

    @Test
    void subscriptionQosCapsDeliveredQos() {
        Connected sub0 = fx.connect("s0", true, PERSISTENT);
        sub0.subscribe("t", 0);
        Connected sub1 = fx.connect("s1", true, PERSISTENT);
        sub1.subscribe("t", 1);
        Connected sub2 = fx.connect("s2", true, PERSISTENT);
        sub2.subscribe("t", 2);
        Connected pub = fx.connect("p", true, 0);
        pub.publish(7, "t", "x", 2);
        assertEquals(0, sub0.listener().nextPublish().qos());
        assertEquals(1, sub1.listener().nextPublish().qos());
        assertEquals(2, sub2.listener().nextPublish().qos());
        pub.publish(0, "t", "y", 0);
        assertEquals(0, sub2.listener().nextPublish().qos());
    }

    @Test
    void qos2ResendBeforePubrelIsNotRoutedAgain() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("q2", 2);
        Connected pub = fx.connect("pub", false, PERSISTENT);
        assertEquals(PublishResult.Status.ACCEPTED, pub.publish(42, "q2", "once", 2).status());
        assertEquals(PublishResult.Status.DUPLICATE, pub.publish(42, "q2", "once", 2).status());
        assertEquals("once", text(sub.listener().nextPublish().message()));
        sub.listener().expectNothing(QUIET);
        assertEquals(1.0, fx.counter("durablemq.qos2.duplicates.suppressed"));

        await(pub.handle().release(42));
        // After PUBREL the id is free again: a new message under it is routed.
        assertEquals(PublishResult.Status.ACCEPTED, pub.publish(42, "q2", "again", 2).status());
        assertEquals("again", text(sub.listener().nextPublish().message()));
    }

    @Test
    void qos2ReceiveRecordSurvivesRestart() {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("q2", 2);
        Connected pub = fx.connect("pub", false, PERSISTENT);
        pub.publish(9, "q2", "m", 2);
        fx.restart();
        Connected pub2 = fx.connect("pub", false, PERSISTENT);
        assertTrue(pub2.handle().sessionPresent());
        assertEquals(PublishResult.Status.DUPLICATE, pub2.publish(9, "q2", "m", 2).status());
        Connected sub2 = fx.connect("sub", false, PERSISTENT);
        OutboundPublish p = sub2.listener().nextPublish();
        assertTrue(p.dup(), "delivered before the restart, so resent with DUP");
        sub2.listener().expectNothing(QUIET);
    }

    @Test
    void outboundQos2HandshakeMovesThroughPubrelSent() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("x", 2);
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "x", "m", 2);
        OutboundPublish p = sub.listener().nextPublish();
        await(sub.handle().pubrec(p.packetId()));
        assertEquals(p.packetId(), sub.listener().nextPubrel());
        assertEquals(0, fx.engine().stats().storedBodies(), "body released at PUBREC");
        assertEquals(1, fx.engine().stats().inflightMessages());
        await(sub.handle().pubrec(p.packetId()));
        assertEquals(p.packetId(), sub.listener().nextPubrel(), "repeated PUBREC gets PUBREL again");
        await(sub.handle().puback(p.packetId()));
        assertEquals(1, fx.engine().stats().inflightMessages(), "PUBACK is not valid for QoS 2");
        await(sub.handle().pubcomp(p.packetId()));
        assertEquals(0, fx.engine().stats().inflightMessages());
        assertEquals(1.0, fx.counter("durablemq.messages.acknowledged", "qos", "2"));
    }

    @Test
    void resumeResendsInflightInOrderWithDupAndPubrels() {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("r/#", 2);
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "r/1", "one", 2);
        pub.publish(2, "r/2", "two", 1);
        pub.publish(3, "r/3", "three", 2);
        OutboundPublish one = sub.listener().nextPublish();
        OutboundPublish two = sub.listener().nextPublish();
        OutboundPublish three = sub.listener().nextPublish();
        await(sub.handle().pubrec(one.packetId()));
        assertEquals(one.packetId(), sub.listener().nextPubrel());

        fx.restart();
        Connected back = fx.connect("sub", false, PERSISTENT);
        assertTrue(back.handle().sessionPresent());
        assertEquals(one.packetId(), back.listener().nextPubrel());
        OutboundPublish r2 = back.listener().nextPublish();
        assertEquals(two.packetId(), r2.packetId());
        assertTrue(r2.dup());
        assertEquals("two", text(r2.message()));
        OutboundPublish r3 = back.listener().nextPublish();
        assertEquals(three.packetId(), r3.packetId());
        assertTrue(r3.dup());
        back.listener().expectNothing(QUIET);
        assertEquals(2.0, fx.counter("durablemq.messages.redelivered"));
    }

    @Test
    void packetIdsAfterRestartContinueAfterTheNewestRecoveredId() {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("n", 2);
        Connected pub = fx.connect("pub", true, 0);
        int newest = 0;
        for (int i = 0; i < 5; i++) {
            pub.publish(i + 1, "n", "m" + i, 2);
            newest = sub.listener().nextPublish().packetId();
        }
        fx.restart();
        Connected back = fx.connect("sub", false, PERSISTENT);
        Set<Integer> resent = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            resent.add(back.listener().nextPublish().packetId());
        }
        for (int id : resent) {
            await(back.handle().pubrec(id));
            assertEquals(id, back.listener().nextPubrel());
            await(back.handle().pubcomp(id));
        }
        Connected pub2 = fx.connect("pub", true, 0);
        pub2.publish(1, "n", "fresh", 2);
        OutboundPublish fresh = back.listener().nextPublish();
        // not one of the ids in use just before the crash, although all of them are free now
        assertFalse(resent.contains(fresh.packetId()), "reused id " + fresh.packetId());
        assertEquals(newest + 1, fresh.packetId());
    }

    @Test
    void offlineQueueIsDeliveredAfterRestartInOrder() {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("o", 1);
        sub.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        for (int i = 0; i < 50; i++) {
            pub.publish(i + 1, "o", "m" + i, 1);
        }
        assertEquals(50, fx.engine().stats().queuedMessages());
        fx.restart();
        assertEquals(50, fx.engine().recoveryReport().queuedMessages());
        Connected back = fx.connect("sub", false, PERSISTENT);
        for (int i = 0; i < 50; i++) {
            OutboundPublish p = back.listener().nextPublish();
            assertEquals("m" + i, text(p.message()));
            await(back.handle().puback(p.packetId()));
        }
        assertEquals(0, fx.engine().stats().queuedMessages());
        assertEquals(0, fx.engine().stats().storedBodies());
    }

    @Test
    void windowBoundsInflightByReceiveMaximum() {
        RecordingListener l = new RecordingListener();
        var h = await(fx.engine().connect(new ConnectRequest("sub", true, PERSISTENT, 3), l));
        h.startDelivery();
        await(h.subscribe(List.of(Subscription.of("w", 1))));
        Connected pub = fx.connect("pub", true, 0);
        for (int i = 0; i < 10; i++) {
            pub.publish(i + 1, "w", "m" + i, 1);
        }
        OutboundPublish a = l.nextPublish();
        l.nextPublish();
        l.nextPublish();
        l.expectNothing(QUIET);
        assertEquals(3, fx.engine().stats().inflightMessages());
        assertEquals(7, fx.engine().stats().queuedMessages());
        await(h.puback(a.packetId()));
        assertEquals("m3", text(l.nextPublish().message()));
        l.expectNothing(QUIET);
    }

    @Test
    void packetIdsAreUniqueAmongInflightAndWrap() {
        RecordingListener l = new RecordingListener();
        var h = await(fx.engine().connect(new ConnectRequest("sub", true, PERSISTENT, 2), l));
        h.startDelivery();
        await(h.subscribe(List.of(Subscription.of("w", 1))));
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "w", "first", 1);
        OutboundPublish held = l.nextPublish(); // never acknowledged: its id must be skipped
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 70_000; i++) {
            pub.publish(1, "w", "m", 1);
            OutboundPublish p = l.nextPublish();
            assertNotEquals(held.packetId(), p.packetId());
            assertTrue(p.packetId() >= 1 && p.packetId() <= 65_535);
            seen.add(p.packetId());
            await(h.puback(p.packetId()));
        }
        assertEquals(65_534, seen.size(), "every id but the held one was used: the allocator wrapped");
    }

    @Test
    void overlappingSubscriptionsDeliverOnceAtHighestQosWithAllIds() {
        RecordingListener l = new RecordingListener();
        var h = await(fx.engine().connect(new ConnectRequest("sub", true, PERSISTENT, 100), l));
        h.startDelivery();
        await(h.subscribe(List.of(
                new Subscription("a/+", new SubscriptionOptions(1, false, false, 0, 5)),
                new Subscription("a/#", new SubscriptionOptions(2, false, false, 0, 6)))));
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "a/b", "m", 2);
        OutboundPublish p = l.nextPublish();
        assertEquals(2, p.qos());
        assertEquals(Set.of(5, 6), new HashSet<>(p.subscriptionIds()));
        l.expectNothing(QUIET);
    }

    @Test
    void noLocalSkipsOwnMessages() {
        RecordingListener l = new RecordingListener();
        var h = await(fx.engine().connect(new ConnectRequest("me", true, PERSISTENT, 100), l));
        h.startDelivery();
        await(h.subscribe(List.of(new Subscription("chat", new SubscriptionOptions(1, true, false, 0, 0)))));
        await(h.publish(1, Message.of("chat", "mine".getBytes(StandardCharsets.UTF_8), 1)));
        l.expectNothing(QUIET);
        Connected other = fx.connect("other", true, 0);
        other.publish(1, "chat", "theirs", 1);
        assertEquals("theirs", text(l.nextPublish().message()));
    }

    @Test
    void retainedMessagesSetClearAndDeliverOnSubscribe() {
        Connected pub = fx.connect("pub", true, 0);
        await(pub.handle().publish(1, new Message("status/a", "on".getBytes(), 1, true, MessageProperties.NONE, 0)));
        await(pub.handle().publish(2, new Message("status/b", "off".getBytes(), 1, true, MessageProperties.NONE, 0)));
        await(pub.handle().publish(3, new Message("status/b", new byte[0], 1, true, MessageProperties.NONE, 0)));
        assertEquals(1, fx.engine().stats().retainedMessages());
        fx.restart();
        assertEquals(1, fx.engine().recoveryReport().retainedMessages());
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("status/+", 1);
        OutboundPublish p = sub.listener().nextPublish();
        assertEquals("status/a", p.message().topic());
        assertTrue(p.retain(), "retained-on-subscribe carries RETAIN");
        sub.listener().expectNothing(QUIET);
        // retain handling 2: never send retained on subscribe
        RecordingListener l = new RecordingListener();
        var h = await(fx.engine().connect(new ConnectRequest("sub2", true, PERSISTENT, 10), l));
        h.startDelivery();
        await(h.subscribe(List.of(new Subscription("status/#", new SubscriptionOptions(1, false, false, 2, 0)))));
        l.expectNothing(QUIET);
    }

    @Test
    void liveRetainFlagIsClearedUnlessRetainAsPublished() {
        RecordingListener l = new RecordingListener();
        var h = await(fx.engine().connect(new ConnectRequest("s", true, PERSISTENT, 10), l));
        h.startDelivery();
        await(h.subscribe(List.of(new Subscription("x", new SubscriptionOptions(1, false, false, 0, 0)),
                new Subscription("y", new SubscriptionOptions(1, false, true, 0, 0)))));
        Connected pub = fx.connect("pub", true, 0);
        await(pub.handle().publish(1, new Message("x", "1".getBytes(), 1, true, MessageProperties.NONE, 0)));
        assertFalse(l.nextPublish().retain());
        await(pub.handle().publish(2, new Message("y", "2".getBytes(), 1, true, MessageProperties.NONE, 0)));
        assertTrue(l.nextPublish().retain());
    }

    @Test
    void propertiesSurviveTheStore() {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("p", 1);
        sub.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        MessageProperties props = new MessageProperties(1, "text/plain", "reply/here", new byte[]{1, 2, 3},
                List.of(new UserProperty("k", "v"), new UserProperty("k", "v2")));
        await(pub.handle().publish(1, new Message("p", "body".getBytes(), 1, false, props, 0)));
        fx.restart();
        OutboundPublish p = fx.connect("sub", false, PERSISTENT).listener().nextPublish();
        assertEquals("text/plain", p.message().properties().contentType());
        assertEquals("reply/here", p.message().properties().responseTopic());
        assertEquals(1, p.message().properties().payloadFormatIndicator());
        assertEquals(List.of(new UserProperty("k", "v"), new UserProperty("k", "v2")), p.message().properties().userProperties());
        assertEquals(3, p.message().properties().correlationData().length);
    }

    @Test
    void expiredMessagesAreNotDelivered() throws Exception {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("e", 1);
        sub.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        long soon = System.currentTimeMillis() + 150;
        await(pub.handle().publish(1, new Message("e", "short".getBytes(), 1, false, MessageProperties.NONE, soon)));
        pub.publish(2, "e", "lasting", 1);
        Thread.sleep(250);
        Connected back = fx.connect("sub", false, PERSISTENT);
        assertEquals("lasting", text(back.listener().nextPublish().message()));
        back.listener().expectNothing(QUIET);
        assertEquals(1.0, fx.counter("durablemq.messages.dropped", "reason", "expired"));
        assertEquals(1, fx.engine().stats().storedBodies(), "only the undelivered 'lasting' body is left");
    }

    @Test
    void cleanStartDiscardsTheSessionAndItsQueue() {
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("c", 1);
        sub.disconnect();
        fx.connect("pub", true, 0).publish(1, "c", "m", 1);
        assertEquals(1, fx.engine().stats().storedBodies());
        Connected fresh = fx.connect("sub", true, PERSISTENT);
        assertFalse(fresh.handle().sessionPresent());
        fresh.listener().expectNothing(QUIET);
        assertEquals(0, fx.engine().stats().storedBodies());
        fx.connect("pub", true, 0).publish(1, "c", "m2", 1);
        fresh.listener().expectNothing(QUIET); // subscription went with the old session
    }

    @Test
    void sessionExpiresAfterItsInterval() throws Exception {
        Connected sub = fx.connect("sub", false, 1);
        sub.subscribe("x", 1);
        sub.disconnect();
        fx.connect("pub", true, 0).publish(1, "x", "m", 1);
        Thread.sleep(1300);
        assertEquals(0, fx.engine().stats().storedBodies());
        assertFalse(fx.connect("sub", false, 1).handle().sessionPresent());
    }

    @Test
    void sessionWithExpiryZeroEndsWithTheConnection() {
        Connected sub = fx.connect("sub", false, 0);
        sub.subscribe("x", 1);
        sub.disconnect();
        assertFalse(fx.connect("sub", false, 0).handle().sessionPresent());
    }

    @Test
    void takeoverClosesTheOldConnectionAndResendsToTheNew() {
        Connected first = fx.connect("dev", false, PERSISTENT);
        first.subscribe("t", 1);
        fx.connect("pub", true, 0).publish(1, "t", "m", 1);
        OutboundPublish p = first.listener().nextPublish();
        Connected second = fx.connect("dev", false, PERSISTENT);
        assertEquals(SessionListener.CloseReason.TAKEN_OVER, first.listener().next().closed());
        assertTrue(second.handle().sessionPresent());
        OutboundPublish again = second.listener().nextPublish();
        assertEquals(p.packetId(), again.packetId());
        assertTrue(again.dup());
        ExecutionException e = assertThrows(ExecutionException.class, () -> first.handle().puback(p.packetId()).get());
        assertInstanceOf(SessionClosedException.class, e.getCause());
        await(first.handle().disconnect(0)); // the stale connection's end must not end the new one
        await(second.handle().puback(again.packetId()));
        assertEquals(0, fx.engine().stats().inflightMessages());
    }

    @Test
    void sharedSubscriptionDeliversEachMessageToOneMember() {
        Connected a = fx.connect("a", true, PERSISTENT);
        a.subscribe("$share/g/jobs/#", 1);
        Connected b = fx.connect("b", true, PERSISTENT);
        b.subscribe("$share/g/jobs/#", 1);
        Connected pub = fx.connect("pub", true, 0);
        for (int i = 0; i < 20; i++) {
            pub.publish(i + 1, "jobs/x", "j" + i, 1);
        }
        int got = 0;
        int fromA = 0;
        for (RecordingListener l : List.of(a.listener(), b.listener())) {
            for (var e : waitFor(l, 10)) {
                got++;
                if (l == a.listener()) {
                    fromA++;
                }
            }
        }
        assertEquals(20, got);
        assertTrue(fromA > 0 && fromA < 20, "both members received some: " + fromA);
    }

    private static List<RecordingListener.Event> waitFor(RecordingListener l, int n) {
        java.util.ArrayList<RecordingListener.Event> out = new java.util.ArrayList<>();
        long deadline = System.currentTimeMillis() + 2000;
        while (System.currentTimeMillis() < deadline) {
            out.addAll(l.drain());
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                break;
            }
        }
        return out;
    }

    @Test
    void sharedSubscriptionQueuesForAnOfflinePersistentMember() {
        Connected a = fx.connect("a", false, PERSISTENT);
        a.subscribe("$share/g/q", 1);
        a.disconnect();
        fx.connect("pub", true, 0).publish(1, "q", "kept", 1);
        fx.restart();
        assertEquals("kept", text(fx.connect("a", false, PERSISTENT).listener().nextPublish().message()));
    }

    @Test
    void dollarTopicsAreNotMatchedByLeadingWildcards() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("#", 1);
        sub.subscribe("+/x", 1);
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "$SYS/x", "sys", 1);
        sub.listener().expectNothing(QUIET);
        sub.subscribe("$SYS/#", 1);
        pub.publish(2, "$SYS/x", "sys", 1);
        assertEquals("$SYS/x", sub.listener().nextPublish().message().topic());
    }

    @Test
    void invalidFiltersAreRejectedPerFilter() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        SubscribeResult r = await(sub.handle().subscribe(List.of(Subscription.of("a/#/b", 1),
                Subscription.of("ok/+", 2), Subscription.of("bad+", 0))));
        assertEquals(List.of(SubscribeResult.REJECTED, 2, SubscribeResult.REJECTED), r.granted());
    }

    @Test
    void subscriptionsPerSessionAreLimited() {
        fx.close();
        fx = new EngineFixture(dir, c -> c.withMaxSubscriptions(2));
        Connected sub = fx.connect("sub", true, PERSISTENT);
        SubscribeResult r = await(sub.handle().subscribe(List.of(Subscription.of("a", 1), Subscription.of("b", 1),
                Subscription.of("c", 1), Subscription.of("a", 2))));
        assertEquals(List.of(1, 1, SubscribeResult.QUOTA_EXCEEDED, 2), r.granted(),
                "the third filter is refused; replacing an existing one is not a new subscription");
    }

    @Test
    void unsubscribeStopsDeliveryAndReportsWhatExisted() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("u", 1);
        assertEquals(List.of(true, false), await(sub.handle().unsubscribe(List.of("u", "never"))));
        fx.connect("pub", true, 0).publish(1, "u", "m", 1);
        sub.listener().expectNothing(QUIET);
    }

    @Test
    void overflowRejectRefusesThePublish() {
        fx.close();
        fx = new EngineFixture(dir, c -> c.withQueueLimits(3, 1 << 20, OverflowPolicy.REJECT));
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("f", 1);
        sub.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        for (int i = 0; i < 3; i++) {
            assertEquals(PublishResult.Status.ACCEPTED, pub.publish(i + 1, "f", "m" + i, 1).status());
        }
        assertEquals(PublishResult.Status.QUOTA_EXCEEDED, pub.publish(4, "f", "m3", 1).status());
        assertEquals(1.0, fx.counter("durablemq.messages.dropped", "reason", "quota_exceeded"));
        assertEquals(3, fx.engine().stats().queuedMessages());
    }

    @Test
    void overflowDropOldestEvictsAndCounts() {
        fx.close();
        fx = new EngineFixture(dir, c -> c.withQueueLimits(3, 1 << 20, OverflowPolicy.DROP_OLDEST));
        Connected sub = fx.connect("sub", false, PERSISTENT);
        sub.subscribe("f", 1);
        sub.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        for (int i = 0; i < 5; i++) {
            pub.publish(i + 1, "f", "m" + i, 1);
        }
        assertEquals(2.0, fx.counter("durablemq.messages.dropped", "reason", "queue_full_evicted"));
        Connected back = fx.connect("sub", false, PERSISTENT);
        assertEquals("m2", text(back.listener().nextPublish().message()));
        assertEquals(3, fx.engine().stats().storedBodies());
    }

    @Test
    void overflowDropNewKeepsOthersRouted() {
        fx.close();
        fx = new EngineFixture(dir, c -> c.withQueueLimits(1, 1 << 20, OverflowPolicy.DROP_NEW));
        Connected full = fx.connect("full", false, PERSISTENT);
        full.subscribe("f", 1);
        full.disconnect();
        Connected live = fx.connect("live", true, PERSISTENT);
        live.subscribe("f", 1);
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "f", "a", 1);
        assertEquals(PublishResult.Status.ACCEPTED, pub.publish(2, "f", "b", 1).status());
        assertEquals(1.0, fx.counter("durablemq.messages.dropped", "reason", "queue_full"));
        assertEquals("a", text(live.listener().nextPublish().message()));
        assertEquals("b", text(live.listener().nextPublish().message()));
    }

    @Test
    void fanOutStoresOneBodyAndDeletesItAfterTheLastAck() {
        int n = 20;
        Connected[] subs = new Connected[n];
        for (int i = 0; i < n; i++) {
            subs[i] = fx.connect("s" + i, true, PERSISTENT);
            subs[i].subscribe("fan", 1);
        }
        Connected pub = fx.connect("pub", true, 0);
        for (int m = 0; m < 100; m++) {
            pub.publish(m + 1, "fan", "m" + m, 1);
        }
        assertEquals(100, fx.engine().stats().storedBodies());
        for (Connected s : subs) {
            for (int m = 0; m < 100; m++) {
                await(s.handle().puback(s.listener().nextPublish().packetId()));
            }
        }
        assertEquals(0, fx.engine().stats().storedBodies());
        fx.restart();
        assertEquals(0, fx.engine().recoveryReport().storedBodies());
    }

    @Test
    void willStylePublishRoutesWithoutASession() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("will/#", 1);
        PublishResult r = await(fx.engine().publish("gone", Message.of("will/gone", "bye".getBytes(), 1)));
        assertEquals(1, r.matchedSessions());
        assertEquals("bye", text(sub.listener().nextPublish().message()));
    }

    @Test
    void discardDropsAnOversizedMessageFromTheWindow() {
        Connected sub = fx.connect("sub", true, PERSISTENT);
        sub.subscribe("d", 1);
        fx.connect("pub", true, 0).publish(1, "d", "big", 1);
        OutboundPublish p = sub.listener().nextPublish();
        await(sub.handle().discard(p.packetId(), "packet_too_large"));
        assertEquals(0, fx.engine().stats().inflightMessages());
        assertEquals(0, fx.engine().stats().storedBodies());
        assertEquals(1.0, fx.counter("durablemq.messages.dropped", "reason", "packet_too_large"));
    }
}
