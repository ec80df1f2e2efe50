package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.guard.AdmissionSettings;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The broker-wide queue budget and the heap guard on a real engine: publishes past the budget
 * are refused (counted), nothing accepted is lost, a QoS 2 resend is still recognised while
 * refusing, and after the subscriber drains the queue publishes are accepted again; the heap
 * guard refuses on a real garbage collection notification.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AdmissionTest {
    @TempDir
    Path dir;

    private static Message numbered(int n, int qos) {
        return new Message("t", ByteBuffer.allocate(100).putInt(n).array(), qos, false, null, 0);
    }

    @Test
    void publishesPastTheBudgetAreRefusedNothingAcceptedIsLostAndDrainingResumes() {
        long perMessage = numbered(0, 1).sizeEstimate();
        long budget = 50 * perMessage;
        try (EngineFixture fx = new EngineFixture(dir,
                c -> c.withAdmission(new AdmissionSettings(budget, AdmissionSettings.HEAP_GUARD_OFF)))) {
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("t", 2);
            sub.disconnect();
            EngineFixture.Connected pub = fx.connect("pub", false, 3600);

            Set<Integer> accepted = new HashSet<>();
            assertEquals(PublishResult.Status.ACCEPTED, await(pub.handle().publish(1, numbered(-1, 2))).status());
            int n = 0;
            PublishResult r;
            while ((r = await(pub.handle().publish(2 + n % 1000, numbered(n, 1)))).status() == PublishResult.Status.ACCEPTED) {
                accepted.add(n++);
                if (n > 1000) {
                    fail("the budget never refused");
                }
            }
            assertEquals(PublishResult.Status.BUDGET_EXCEEDED, r.status());
            assertEquals(49, accepted.size(), "the 50-message budget holds the QoS 2 message and 49 more");
            assertTrue(fx.engine().isRefusingPublishes());
            assertEquals(PublishResult.Status.DUPLICATE, await(pub.handle().publish(1, numbered(-1, 2))).status(),
                    "a QoS 2 resend is answered as what it is, not refused");
            await(pub.handle().release(1));
            assertEquals(1.0, fx.counter("durablemq.publishes.refused", "reason", "budget"));

            // Drain: every accepted message arrives; the broker then accepts again by itself.
            EngineFixture.Connected back = fx.connect("sub", false, 3600);
            Set<Integer> delivered = new HashSet<>();
            while (delivered.size() < accepted.size() + 1) {
                RecordingListener.Event e = back.listener().next(Duration.ofSeconds(10));
                if (e.isPublish()) {
                    OutboundPublish p = e.publish();
                    delivered.add(ByteBuffer.wrap(p.message().payload()).getInt());
                    await(p.qos() == 1 ? back.handle().puback(p.packetId()) : back.handle().pubrec(p.packetId()));
                } else if (e.isPubrel()) {
                    await(back.handle().pubcomp(e.pubrel()));
                }
            }
            assertTrue(delivered.containsAll(accepted) && delivered.contains(-1), "nothing accepted is lost");
            assertFalse(fx.engine().isRefusingPublishes(), "resumes once the queues drained");
            back.disconnect();
            assertEquals(PublishResult.Status.ACCEPTED, await(pub.handle().publish(999, numbered(n, 1))).status());
        }
    }

    @Test
    void theHeapGuardRefusesOnARealCollectionNotification() throws InterruptedException {
        // A guard fraction far below what any heap holds: the first collection's figure trips it.
        try (EngineFixture fx = new EngineFixture(dir,
                c -> c.withAdmission(new AdmissionSettings(AdmissionSettings.UNLIMITED, 1e-9)))) {
            EngineFixture.Connected pub = fx.connect("pub", false, 3600);
            long deadline = System.currentTimeMillis() + 20_000;
            while (!fx.engine().isRefusingPublishes()) {
                if (System.currentTimeMillis() > deadline) {
                    fail("no garbage collection notification reached the guard");
                }
                System.gc();
                Thread.sleep(100);
            }
            assertEquals(PublishResult.Status.HEAP_PRESSURE, await(pub.handle().publish(1, numbered(1, 1))).status());
            assertEquals(PublishResult.Status.ACCEPTED, await(pub.handle().publish(0, numbered(2, 0))).status(),
                    "QoS 0 is never stored and not refused");
            assertEquals(1.0, fx.counter("durablemq.publishes.refused", "reason", "heap"));
        }
    }
}
