package io.durablemq.engine.queue;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.durablemq.engine.support.EngineFixture.await;
import static io.durablemq.engine.support.EngineFixture.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A backlog's bodies are read on the read-ahead thread, with their queue pages or when delivery
 * meets one not in memory, never by the send on the thread that runs it (in the broker the
 * subscriber's Netty event loop, right after a PUBACK): {@code durablemq_body_reads_total}
 * counts where each body was read. The backlog comes back after a restart, so no body is in
 * memory; everything still arrives once, in order.
 */
@Timeout(120)
class BodyReadAheadTest {
    private static final long PERSISTENT = 3600;

    @TempDir
    Path dir;

    private static List<String> receiveAcking(Connected c, int count) {
        List<String> got = new ArrayList<>();
        while (got.size() < count) {
            RecordingListener.Event e = c.listener().next();
            OutboundPublish p = e.publish();
            if (p == null) {
                throw new AssertionError("unexpected " + e);
            }
            got.add(text(p.message()));
            await(c.handle().puback(p.packetId()));
        }
        return got;
    }

    private static List<String> queueOffline(EngineFixture fx, int n, int receiveMaximum, String payloadPrefix) {
        return queueOffline(fx, n, receiveMaximum, payloadPrefix, 1);
    }

    private static List<String> queueOffline(EngineFixture fx, int n, int receiveMaximum, String payloadPrefix, int qos) {
        Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, receiveMaximum));
        sub.subscribe("t/#", qos);
        sub.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String payload = payloadPrefix + i;
            assertEquals(PublishResult.Status.ACCEPTED, pub.publish(i + 1, "t/a", payload, qos).status());
            expected.add(payload);
        }
        pub.disconnect();
        return expected;
    }

    @Test
    void aBacklogResumedAfterARestartIsSentWithoutOneBodyReadBySends() {
        int n = 1_000;
        try (EngineFixture fx = new EngineFixture(dir)) {
            List<String> expected = queueOffline(fx, n, 50, "m");
            fx.restart(); // the body cache starts empty: every body must come from the store

            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 50));
            assertEquals(expected, receiveAcking(sub, n));
            sub.listener().expectNothing(Duration.ofMillis(200));

            // The 64 entries recovery put in the head had no body in memory: delivery asked the
            // read-ahead thread for them; the rest came with their pages.
            assertEquals(0.0, fx.counter("durablemq.body.reads", "where", "send"), "bodies read by sends");
            assertEquals(n, fx.counter("durablemq.body.reads", "where", "read_ahead"), 0.0);
            assertEquals(0, fx.engine().stats().queuedMessages());
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
    }

    /**
     * Bodies larger than a read's byte bound (a quarter of the body cache) and than the cache
     * itself: each read still brings at least one, and delivery goes on one body per read,
     * reading none at send.
     */
    @Test
    void bodiesLargerThanTheCacheStillArriveInOrderEachReadAhead() {
        int n = 60;
        String big = "x".repeat(6_000);
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withBodyCacheBytes(4_096))) {
            List<String> expected = queueOffline(fx, n, 10, big);
            fx.restart();

            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            assertEquals(expected, receiveAcking(sub, n));
            assertEquals(0.0, fx.counter("durablemq.body.reads", "where", "send"), "bodies read by sends");
            assertEquals(n, fx.counter("durablemq.body.reads", "where", "read_ahead"), 0.0);
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
    }

    /**
     * A reconnected session's in-flight window is resent with bodies read ahead (one sorted
     * MultiGet on the read-ahead thread), not by each resend on the thread that runs it: after a
     * restart no body is in memory, 50 QoS 1 messages were in flight unacknowledged. They come
     * back first, DUP, with their packet ids, in order, then the rest of the queue; 0 bodies read
     * by sends (before: 50, one point get per resend).
     */
    @Test
    void anInflightWindowResentAfterARestartReadsNoBodyAtSend() {
        int n = 200;
        int window = 50;
        try (EngineFixture fx = new EngineFixture(dir)) {
            List<String> expected = queueOffline(fx, n, window, "m");
            Connected first = fx.connect(new ConnectRequest("sub", false, PERSISTENT, window));
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < window; i++) {
                OutboundPublish p = first.listener().nextPublish();
                assertEquals("m" + i, text(p.message()));
                ids.add(p.packetId());
            }
            fx.restart(); // unacknowledged: the window stays in flight, no body in memory
            double sendReadsBefore = fx.counter("durablemq.body.reads", "where", "send");

            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, window));
            List<String> got = new ArrayList<>();
            for (int i = 0; i < window; i++) {
                OutboundPublish p = sub.listener().nextPublish();
                assertTrue(p.dup(), "resend " + i + " carries DUP");
                assertEquals((int) ids.get(i), p.packetId(), "resend " + i + " keeps its packet id");
                got.add(text(p.message()));
            }
            for (int id : ids) {
                await(sub.handle().puback(id));
            }
            got.addAll(receiveAcking(sub, n - window));
            assertEquals(expected, got);
            sub.listener().expectNothing(Duration.ofMillis(200));
            assertEquals(sendReadsBefore, fx.counter("durablemq.body.reads", "where", "send"), "bodies read by resends");
            assertEquals(0.0, sendReadsBefore, "bodies read by sends");
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
    }

    /**
     * QoS 2 window mixed: 10 of 30 answered with PUBREC (now PUBREL_SENT, body released), 20 only
     * sent. After a restart the window goes out again in send order (10 PUBRELs, then 20 DUP
     * PUBLISHes with their ids and bodies read ahead), and completing the exchanges delivers
     * every message once: 0 bodies read by sends.
     */
    @Test
    void aQos2WindowResentAfterARestartKeepsItsOrderAndReadsNoBodyAtSend() {
        int n = 30;
        try (EngineFixture fx = new EngineFixture(dir)) {
            List<String> expected = queueOffline(fx, n, n, "q", 2);
            Connected first = fx.connect(new ConnectRequest("sub", false, PERSISTENT, n));
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                OutboundPublish p = first.listener().nextPublish();
                assertEquals("q" + i, text(p.message()));
                ids.add(p.packetId());
            }
            for (int i = 0; i < 10; i++) {
                await(first.handle().pubrec(ids.get(i)));
                assertEquals((int) ids.get(i), first.listener().nextPubrel());
            }
            fx.restart();

            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, n));
            List<String> got = new ArrayList<>(expected.subList(0, 10)); // received before the restart
            for (int i = 0; i < 10; i++) {
                assertEquals((int) ids.get(i), sub.listener().nextPubrel(), "PUBREL " + i + " resent first, in order");
            }
            for (int i = 10; i < n; i++) {
                OutboundPublish p = sub.listener().nextPublish();
                assertTrue(p.dup());
                assertEquals((int) ids.get(i), p.packetId());
                got.add(text(p.message()));
            }
            for (int i = 0; i < 10; i++) {
                await(sub.handle().pubcomp(ids.get(i)));
            }
            for (int i = 10; i < n; i++) {
                await(sub.handle().pubrec(ids.get(i)));
                assertEquals((int) ids.get(i), sub.listener().nextPubrel());
                await(sub.handle().pubcomp(ids.get(i)));
            }
            assertEquals(expected, got);
            sub.listener().expectNothing(Duration.ofMillis(200));
            assertEquals(0.0, fx.counter("durablemq.body.reads", "where", "send"), "bodies read by resends");
            assertEquals(0, fx.engine().stats().queuedMessages());
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
    }
}
