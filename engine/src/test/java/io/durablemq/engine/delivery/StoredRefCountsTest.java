package io.durablemq.engine.delivery;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.check.BackgroundCheck;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.queue.StoreQueueReader;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksIterator;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bodies' reference counts kept in the store ({@link BodyRefs}): a fan-out body carries a stored
 * count (absent = 1), decremented in the batch of each release and deleted with the body at the
 * last one, across restarts; recovery reads no queue entry beyond each queue's first page.
 * Crashes: {@code queue.QueueCrashTest} (SIGKILLed fan-out to four sessions, counts verified
 * after every kill).
 */
@Timeout(120)
class StoredRefCountsTest {
    private static final int MESSAGES = 50;

    @TempDir
    Path dir;

    @Test
    void fanOutBodiesAreFreedExactlyAtTheLastAckAcrossRestarts() throws Exception {
        Path data = dir.resolve("data");
        String[] subs = {"a", "b", "c"};
        try (EngineFixture fx = new EngineFixture(data)) {
            for (String s : subs) {
                EngineFixture.Connected c = fx.connect(s, false, 86_400);
                c.subscribe("fan/#", 1);
                c.disconnect();
            }
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < MESSAGES; m++) {
                pub.publish(m + 1, "fan/" + m, "m" + m, 1);
            }
            // One body to a single queue: no count record (absent means 1).
            EngineFixture.Connected only = fx.connect("only", false, 86_400);
            only.subscribe("solo", 1);
            only.disconnect();
            pub.publish(60_000, "solo", "alone", 1);
            pub.disconnect();
        }
        assertCounts(data, 3, MESSAGES, MESSAGES + 1);
        int left = subs.length;
        for (String s : subs) {
            try (EngineFixture fx = new EngineFixture(data)) {
                assertEquals(MESSAGES + 1, fx.engine().stats().storedBodies(), "bodies before " + s + " drains");
                drain(fx, s);
                left--;
                long expected = left == 0 ? 1 : MESSAGES + 1;
                long deadline = System.currentTimeMillis() + 10_000;
                while (fx.engine().stats().storedBodies() != expected && System.currentTimeMillis() < deadline) {
                    Thread.sleep(10);
                }
                assertEquals(expected, fx.engine().stats().storedBodies(),
                        left == 0 ? "every fan-out body deleted at the last ack" : "no body deleted before its last ack");
                BackgroundCheck.Report r = fx.engine().awaitBackgroundCheck(Duration.ofSeconds(60));
                assertEquals(BackgroundCheck.State.PASSED, r.state(), String.valueOf(r));
            }
            // A count of 1 is stored as no record: records only while two or more queues hold the body.
            assertCounts(data, left, left >= 2 ? MESSAGES : 0, left == 0 ? 1 : MESSAGES + 1);
        }
    }

    @Test
    void recoveryReadsNoQueueEntryBeyondTheFirstPages() throws Exception {
        Path data = dir.resolve("data");
        int sessions = 4;
        int queued = 1_000;
        try (EngineFixture fx = new EngineFixture(data)) {
            for (int i = 0; i < sessions; i++) {
                EngineFixture.Connected c = fx.connect("s" + i, false, 86_400);
                c.subscribe("deep/#", 1);
                c.disconnect();
            }
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < queued; m++) {
                pub.publish(m % 65_000 + 1, "deep/" + m, "m" + m, 1);
            }
            pub.disconnect();
        }
        long before = StoreQueueReader.entriesRead();
        try (Engine e = Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry())) {
            long read = StoreQueueReader.entriesRead() - before;
            assertEquals((long) sessions * queued, e.recoveryReport().queuedMessages());
            // Each offline queue's head holds 64 entries: recovery reads exactly those.
            assertEquals(sessions * 64L, read, "queue entries read by recovery");
            assertEquals(BackgroundCheck.State.PASSED, e.awaitBackgroundCheck(Duration.ofSeconds(60)).state());
        }
    }

    /**
     * The background check counts references per window of message ids (bounded heap): with a
     * window of 7 ids it makes many passes, and an injected wrong count and an orphan body are
     * each reported exactly once, and left in place.
     */
    @Test
    void theBackgroundCheckInWindowsReportsAWrongCountAndAnOrphanOnceAndDeletesNothing() throws Exception {
        Path data = dir.resolve("data");
        try (EngineFixture fx = new EngineFixture(data)) {
            for (String s : new String[]{"a", "b"}) {
                EngineFixture.Connected c = fx.connect(s, false, 86_400);
                c.subscribe("w/#", 1);
                c.disconnect();
            }
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < 40; m++) {
                pub.publish(m + 1, "w/" + m, "m" + m, 1);
            }
            pub.disconnect();
        }
        try (Store store = Store.open(data, Durability.FSYNC); org.rocksdb.WriteBatch b = new org.rocksdb.WriteBatch()) {
            b.put(store.handle(StoreColumn.REFCOUNTS), Keys.message(10), ByteBuffer.allocate(4).putInt(5).array());
            b.put(store.handle(StoreColumn.MESSAGES), Keys.message(100), io.durablemq.engine.message.MessageCodec.encode(
                    io.durablemq.engine.message.Message.of("orphan", new byte[3], 1)));
            store.write(b);
        }
        System.setProperty("durablemq.backgroundCheck.windowIds", "7");
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        try (Engine e = Engine.open(EngineConfig.defaults(data), meters)) {
            BackgroundCheck.Report r = e.awaitBackgroundCheck(Duration.ofSeconds(60));
            assertEquals(BackgroundCheck.State.FOUND_PROBLEMS, r.state(), String.valueOf(r));
            assertTrue(r.passes() > 10, "passes: " + r.passes());
            // The wrong count, the orphan, and the stored body count that the orphan makes wrong (40, 41 bodies).
            assertEquals(Map.of(io.durablemq.engine.check.Violation.Kind.REF_COUNT, 2L,
                    io.durablemq.engine.check.Violation.Kind.ORPHAN_BODY, 1L), r.violations().counts(),
                    String.valueOf(r.violations().examples()));
            assertEquals(3.0, meters.get("durablemq.background.check.violations").gauge().value());
        } finally {
            System.clearProperty("durablemq.backgroundCheck.windowIds");
        }
        // verify does not read meta's body count (the background check does): the other two are still there.
        VerifyReport report = StoreVerifier.verify(data);
        assertEquals(Map.of(io.durablemq.engine.check.Violation.Kind.REF_COUNT, 1L,
                io.durablemq.engine.check.Violation.Kind.ORPHAN_BODY, 1L), report.violations().counts(), report.toText());
    }

    /** Reads the store directly: every body referenced by {@code refs} entries has that stored count; verify agrees. */
    private static void assertCounts(Path data, int refs, int countRecords, int bodies) throws Exception {
        VerifyReport report = StoreVerifier.verify(data);
        assertTrue(report.ok(), report.toText());
        try (Store store = Store.open(data, Durability.FSYNC)) {
            Map<Long, Integer> counts = new HashMap<>();
            try (RocksIterator it = store.iterator(StoreColumn.REFCOUNTS)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    counts.put(Keys.messageIdOf(it.key()), ByteBuffer.wrap(it.value()).getInt());
                }
            }
            assertEquals(countRecords, counts.size(), "count records: " + counts);
            for (int c : counts.values()) {
                assertEquals(refs, c);
            }
            long n = 0;
            try (RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    n++;
                }
            }
            assertEquals(bodies, n, "bodies stored");
        }
    }

    private static void drain(EngineFixture fx, String clientId) throws Exception {
        EngineFixture.Connected c = fx.connect(clientId, false, 86_400);
        for (int m = 0; m < MESSAGES; m++) {
            RecordingListener.Event e = c.listener().next(Duration.ofSeconds(10));
            assertTrue(e != null && e.isPublish(), clientId + " message " + m + ": " + e);
            assertEquals("m" + m, EngineFixture.text(e.publish().message()));
            EngineFixture.await(c.handle().puback(e.publish().packetId()));
        }
        c.disconnect();
    }
}
