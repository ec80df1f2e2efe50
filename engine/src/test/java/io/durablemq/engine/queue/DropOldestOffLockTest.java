package io.durablemq.engine.queue;

import io.durablemq.engine.SessionSnapshot;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.BodyRefs;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DROP_OLDEST on an offline session whose queue is mostly on disk: evictions take the oldest
 * entry from the in-memory head and the head is refilled by the read-ahead thread, so the
 * publishing thread (a Netty event loop in the broker) reads no queue page and no reference
 * count under the engine's lock; the limit stays exact after every publish and the newest
 * messages are the ones kept.
 */
@Timeout(120)
class DropOldestOffLockTest {
    private static final int LIMIT = 100;
    private static final int PUBLISHED = 1_000;
    /**
     * Publishes between two waits for the read-ahead: fewer than the head holds after a refill (so
     * an eviction never finds it empty), more than half of it (so a synchronous refill at half,
     * as a plain poll makes, would happen within each burst).
     */
    private static final int BURST = 30;

    @TempDir
    Path dir;

    @Test
    void evictionsReadNothingOnThePublishingThreadAndKeepTheLimitExact() throws Exception {
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withQueueLimits(LIMIT, Long.MAX_VALUE, OverflowPolicy.DROP_OLDEST))) {
            Connected sub = fx.connect("sub", false, 86_400);
            sub.subscribe("d/#", 1);
            sub.disconnect();
            Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "d/x", payload(0), 1);
            long bytesOfOne = fx.engine().session("sub").queuedBytes();
            StoreQueueReader.forgetReaderThreads();
            long countReadsBefore = BodyRefs.storeCountReads();
            for (int i = 1; i < PUBLISHED; i++) {
                pub.publish(i % 65_000 + 1, "d/x", payload(i), 1);
                SessionSnapshot s = fx.engine().session("sub");
                assertEquals(Math.min(i + 1, LIMIT), s.queuedMessages(), "messages after publish " + i);
                assertEquals(bytesOfOne * Math.min(i + 1, LIMIT), s.queuedBytes(), "bytes after publish " + i);
                if (i % BURST == 0) {
                    awaitHeadRefilled(fx);
                }
            }
            String me = Thread.currentThread().getName();
            assertFalse(StoreQueueReader.readerThreads().contains(me),
                    "queue pages read on the publishing thread: " + StoreQueueReader.readerThreads());
            assertTrue(StoreQueueReader.readerThreads().contains("durablemq-queue-reader"),
                    "the head was refilled by the read-ahead thread: " + StoreQueueReader.readerThreads());
            assertEquals(0, BodyRefs.storeCountReads() - countReadsBefore, "reference counts read by evictions");
            assertEquals(LIMIT, fx.engine().stats().storedBodies(), "evicted bodies deleted");
            assertEquals(PUBLISHED - LIMIT, fx.counter("durablemq.messages.dropped", "reason", "queue_full_evicted"));

            sub = fx.connect("sub", false, 86_400);
            for (int i = PUBLISHED - LIMIT; i < PUBLISHED; i++) {
                RecordingListener.Event e = sub.listener().next(Duration.ofSeconds(10));
                assertTrue(e.isPublish(), "message " + i + ": " + e);
                assertEquals(payload(i), EngineFixture.text(e.publish().message()));
                await(sub.handle().puback(e.publish().packetId()));
            }
            sub.listener().expectNothing(Duration.ofMillis(200));
            sub.disconnect();
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
    }

    /** Every payload the same length, so every entry counts the same bytes. */
    private static String payload(int i) {
        return String.format("m%06d", i);
    }

    /** Waits (bounded) until the read-ahead has refilled the offline head (64 entries) beyond one burst. */
    private static void awaitHeadRefilled(EngineFixture fx) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < deadline) {
            SessionSnapshot s = fx.engine().session("sub");
            if (s.queueInMemory() > BURST || s.queueInMemory() == s.queuedMessages()) {
                return;
            }
            Thread.sleep(1);
        }
        throw new AssertionError("the head was not refilled: " + fx.engine().session("sub"));
    }
}
