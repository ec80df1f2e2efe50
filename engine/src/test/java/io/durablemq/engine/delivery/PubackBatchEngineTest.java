package io.durablemq.engine.delivery;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code SessionHandle.pubacks}: several PUBACKs in one operation (the broker hands over those
 * of one read together) act as the PUBACKs one after the other: each acknowledged message leaves
 * the window and the store, the window refills once for them all in queue order, a repeated or
 * unknown id and a PUBACK for a QoS 2 message change nothing, and after a restart nothing
 * acknowledged comes back. Real RocksDB, the engine restarted on the same folder.
 */
@Timeout(120)
class PubackBatchEngineTest {
    private static final long PERSISTENT = 3600;

    @TempDir
    Path dir;

    private static List<OutboundPublish> take(Connected c, int n) {
        List<OutboundPublish> got = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            got.add(c.listener().nextPublish());
        }
        return got;
    }

    @Test
    void aBatchOfPubacksRefillsTheWindowInOrderAndSurvivesARestart() {
        int window = 20;
        int total = 100;
        List<String> expected = new ArrayList<>();
        try (EngineFixture fx = new EngineFixture(dir)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, window));
            sub.subscribe("t/#", 1);
            sub.disconnect();
            Connected pub = fx.connect("pub", true, 0);
            for (int i = 0; i < total; i++) {
                pub.publish(i + 1, "t/a", "m" + i, 1);
                expected.add("m" + i);
            }
            pub.disconnect();

            sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, window));
            List<String> got = new ArrayList<>();
            List<OutboundPublish> first = take(sub, window);
            first.forEach(p -> got.add(text(p.message())));
            sub.listener().expectNothing(Duration.ofMillis(200)); // the window is full

            // The first 15 acknowledged together, with a repeated id and one never sent.
            int[] ids = new int[17];
            for (int i = 0; i < 15; i++) {
                ids[i] = first.get(i).packetId();
            }
            ids[15] = first.get(3).packetId();
            ids[16] = 60_000;
            await(sub.handle().pubacks(ids, 17));
            assertEquals(total - 15, fx.engine().stats().queuedMessages() + fx.engine().stats().inflightMessages(),
                    "15 acknowledged messages left the engine, the repeated and unknown ids changed nothing");
            List<OutboundPublish> refill = take(sub, 15);
            refill.forEach(p -> got.add(text(p.message())));
            sub.listener().expectNothing(Duration.ofMillis(200)); // 15 freed, 15 refilled
            assertEquals(window, fx.engine().stats().inflightMessages());

            // Only the count given is acknowledged: the last five of the array are not.
            List<OutboundPublish> open = new ArrayList<>(first.subList(15, window));
            open.addAll(refill);
            int[] more = new int[open.size() + 5];
            for (int i = 0; i < open.size(); i++) {
                more[i] = open.get(i).packetId();
            }
            await(sub.handle().pubacks(more, 10));
            take(sub, 10).forEach(p -> got.add(text(p.message())));
            assertEquals(window, fx.engine().stats().inflightMessages());
            sub.disconnect();
            assertEquals(expected.subList(0, window + 15 + 10), got, "sent in queue order, each once");
        }
        try (EngineFixture fx = new EngineFixture(dir)) { // restarted: what was acknowledged stays gone
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 1_000));
            List<String> after = new ArrayList<>();
            int dups = 0;
            for (int i = 0; i < total - 25; i++) {
                OutboundPublish p = sub.listener().nextPublish();
                after.add(text(p.message()));
                dups += p.dup() ? 1 : 0;
                await(sub.handle().puback(p.packetId()));
            }
            sub.listener().expectNothing(Duration.ofMillis(200));
            assertEquals(expected.subList(25, total), after, "the 25 acknowledged never return; the rest in order");
            assertEquals(window, dups, "the unacknowledged window comes back first, DUP");
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
    }

    @Test
    void aPubackInABatchForAQos2MessageIsIgnored() {
        try (EngineFixture fx = new EngineFixture(dir)) {
            Connected sub = fx.connect(new ConnectRequest("sub", true, PERSISTENT, 10));
            sub.subscribe("q1/#", 1);
            sub.subscribe("q2/#", 2);
            Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "q1/a", "one", 1);
            pub.publish(2, "q2/a", "two", 2);
            OutboundPublish p1 = sub.listener().nextPublish();
            OutboundPublish p2 = sub.listener().nextPublish();
            assertEquals(1, p1.qos());
            assertEquals(2, p2.qos());
            await(sub.handle().pubacks(new int[] {p2.packetId(), p1.packetId()}, 2));
            assertEquals(1, fx.engine().stats().inflightMessages(), "the QoS 2 message stays in flight");
            await(sub.handle().pubrec(p2.packetId()));
            assertEquals(p2.packetId(), sub.listener().nextPubrel());
            await(sub.handle().pubcomp(p2.packetId()));
            assertEquals(0, fx.engine().stats().inflightMessages());
            assertFalse(p1.dup());
        }
    }
}
