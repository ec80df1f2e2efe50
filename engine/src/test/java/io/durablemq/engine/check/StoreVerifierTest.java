package io.durablemq.engine.check;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.RecoveryReport;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link StoreVerifier} on a healthy store (the counts match what the engine recovers) and on
 * stores with one broken invariant each, which the engine must refuse to open (naming the
 * violation) instead of deleting or guessing, and which verify must report.
 */
@Timeout(120)
class StoreVerifierTest {
    @TempDir
    Path dir;

    @Test
    void healthyStoreVerifiesWithTheCountsTheEngineRecovers() throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        List<String> before = listing(data);
        VerifyReport report = StoreVerifier.verify(data);
        assertTrue(report.ok(), report.toText());
        assertEquals(before, listing(data), "verify changed nothing in the folder");
        assertEquals(RepairFixtures.CLIENTS, report.inventory().sessions());
        long queued = (long) RepairFixtures.CLIENTS * RepairFixtures.QUEUED_PER_CLIENT;
        long inflight = (long) RepairFixtures.CLIENTS * RepairFixtures.INFLIGHT_PER_CLIENT;
        assertEquals(queued, report.records().get(StoreColumn.QUEUES));
        assertEquals(queued + inflight, report.records().get(StoreColumn.MESSAGES));
        assertTrue(report.toJson().contains("\"ok\": true"), report.toJson());
        try (Engine e = Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry())) {
            RecoveryReport r = e.recoveryReport();
            assertEquals(report.inventory().sessions(), r.sessions());
            assertEquals(report.inventory().queued(), r.queuedMessages());
            assertEquals(report.inventory().inflight(), r.inflightMessages());
            assertEquals(report.inventory().bodies(), r.storedBodies());
            assertEquals(report.inventory().retained(), r.retainedMessages());
            // Recovery reads neither bodies nor refcounts, and of queues only first pages (here whole: 20 < 64).
            assertEquals(report.records().values().stream().mapToLong(Long::longValue).sum()
                    - report.records().get(StoreColumn.MESSAGES) - report.records().get(StoreColumn.REFCOUNTS),
                    r.recordsChecked());
            BackgroundCheck.Report checked = e.awaitBackgroundCheck(java.time.Duration.ofSeconds(60));
            assertEquals(BackgroundCheck.State.PASSED, checked.state(), String.valueOf(checked));
            assertEquals(report.inventory().bodies(), checked.storedBodies());
        }
    }

    @Test
    void orphanBodyIsReportedInTheBackgroundNotDeleted() throws Exception {
        assertReportedInTheBackground(Violation.Kind.ORPHAN_BODY, store -> put(store, StoreColumn.MESSAGES,
                Keys.message(1_000_000), io.durablemq.engine.message.MessageCodec.encode(
                        io.durablemq.engine.message.Message.of("t", new byte[3], 1))));
    }

    @Test
    void queueEntryWithoutItsBodyIsReportedInTheBackground() throws Exception {
        assertReportedInTheBackground(Violation.Kind.MISSING_BODY, store -> put(store, StoreColumn.QUEUES,
                Keys.queueEntry(Keys.session(RepairFixtures.client(3)), 999),
                new QueueEntry(999, 2_000_000, 1, false, 0, 0, 10, new int[0]).encodeValue()));
    }

    @Test
    void recordOfAMissingSessionIsRefused() throws Exception {
        assertRefusedAndReported(Violation.Kind.NO_SESSION, store -> put(store, StoreColumn.QOS2_RECEIVED,
                Keys.packet(Keys.session("nobody"), 7), new byte[8]));
    }

    /** Format 2: a session record's queue counters that differ from its entries refuse the start (paged queues trust them). */
    @Test
    void queueCountersThatDifferFromTheEntriesAreReportedInTheBackground() throws Exception {
        assertReportedInTheBackground(Violation.Kind.QUEUE_COUNTERS, store -> put(store, StoreColumn.SESSIONS,
                Keys.session(RepairFixtures.client(4)),
                new io.durablemq.engine.session.SessionRecord(86_400, System.currentTimeMillis(),
                        new io.durablemq.engine.queue.QueueCounters(RepairFixtures.QUEUED_PER_CLIENT - 1,
                                (RepairFixtures.QUEUED_PER_CLIENT - 1) * 100L, RepairFixtures.QUEUED_PER_CLIENT + 1)).encode()));
    }

    /** A stored reference count that differs from the entries (here 3 for a body one entry references). */
    @Test
    void aWrongStoredReferenceCountIsReportedInTheBackgroundNotDeleted() throws Exception {
        assertReportedInTheBackground(Violation.Kind.REF_COUNT, store -> put(store, StoreColumn.REFCOUNTS,
                Keys.message(5), java.nio.ByteBuffer.allocate(4).putInt(3).array()));
    }

    /** Recovery cannot count a version-1 record's queue (it reads no queue entry beyond the first page): refused. */
    @Test
    void aVersionOneSessionRecordInAFormatTwoStoreIsRefused() throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        try (Store store = Store.open(data, Durability.FSYNC)) {
            put(store, StoreColumn.SESSIONS, Keys.session(RepairFixtures.client(6)),
                    new io.durablemq.engine.session.SessionRecord(86_400, System.currentTimeMillis()).encode());
        }
        StoreOpenException e = assertThrows(StoreOpenException.class,
                () -> Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close());
        assertEquals(StoreOpenException.Reason.CORRUPT, e.reason());
        assertTrue(e.getMessage().contains("version-1 session record"), e.getMessage());
        assertTrue(e.getMessage().contains(RepairFixtures.client(6)), e.getMessage());
    }

    @Test
    void undecodableRecordIsRefused() throws Exception {
        assertRefusedAndReported(Violation.Kind.UNDECODABLE, store -> put(store, StoreColumn.SESSIONS,
                Keys.session(RepairFixtures.client(5)), new byte[]{9, 9}));
    }

    /**
     * What recovery no longer reads (bodies, counts, queue entries past the first page) is checked
     * after the start on a snapshot: the engine opens, the background check reports the violation
     * (report, gauge), and nothing is deleted (verify still finds it after the engine closed).
     */
    private void assertReportedInTheBackground(Violation.Kind kind, Consumer<Store> breakIt) throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        try (Store store = Store.open(data, Durability.FSYNC)) {
            breakIt.accept(store);
        }
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        try (Engine e = Engine.open(EngineConfig.defaults(data), meters)) {
            BackgroundCheck.Report r = e.awaitBackgroundCheck(java.time.Duration.ofSeconds(60));
            assertEquals(BackgroundCheck.State.FOUND_PROBLEMS, r.state(), String.valueOf(r));
            assertEquals(1L, r.violations().counts().get(kind), String.valueOf(r.violations().examples()));
            assertTrue(meters.get("durablemq.background.check.violations").gauge().value() >= 1);
        }
        VerifyReport report = StoreVerifier.verify(data);
        assertFalse(report.ok(), report.toText());
        assertEquals(1L, report.violations().counts().get(kind), report.toText());
    }

    private void assertRefusedAndReported(Violation.Kind kind, Consumer<Store> breakIt) throws Exception {
        assertRefusedAtOpen(kind, breakIt);
    }

    private void assertRefusedAtOpen(Violation.Kind kind, Consumer<Store> breakIt) throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        try (Store store = Store.open(data, Durability.FSYNC)) {
            breakIt.accept(store);
        }
        StoreOpenException e = assertThrows(StoreOpenException.class,
                () -> Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close());
        assertEquals(StoreOpenException.Reason.CORRUPT, e.reason());
        assertTrue(e.getMessage().contains(kind.label()), e.getMessage());
        assertTrue(e.getMessage().contains("durablemq verify"), e.getMessage());
        VerifyReport report = StoreVerifier.verify(data);
        assertFalse(report.ok(), report.toText());
        assertEquals(1L, report.violations().counts().get(kind), report.toText());
        // Nothing was deleted by the refused open: the same violation is still there.
        assertEquals(1L, StoreVerifier.verify(data).violations().counts().get(kind));
    }

    private static void put(Store store, StoreColumn column, byte[] key, byte[] value) {
        try (WriteBatch b = new WriteBatch()) {
            b.put(store.handle(column), key, value);
            store.write(b);
        } catch (Exception ex) {
            throw new IllegalStateException(ex);
        }
    }

    /** Every file with its size and modification time. */
    private static List<String> listing(Path data) throws Exception {
        try (Stream<Path> s = Files.list(data)) {
            List<String> out = new java.util.ArrayList<>();
            for (Path p : s.sorted().toList()) {
                out.add(p.getFileName() + " " + Files.size(p) + " " + Files.getLastModifiedTime(p).toMillis());
            }
            return out;
        }
    }
}
