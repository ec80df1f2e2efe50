package io.durablemq.engine.repair;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.RecoveryReport;
import io.durablemq.engine.check.RepairFixtures;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code durablemq repair} on real damage, on a real RocksDB store on disk: a damaged SST data
 * block (queues, then sessions) and a garbled WAL tail. After each: the backup and the report
 * file are there, the report names what was lost per client id, verify passes and the engine opens
 * with exactly what the report says is left.
 */
@Timeout(180)
class StoreRepairTest {
    @TempDir
    Path dir;

    private static RecoveryReport openEngine(Path data) throws StoreOpenException {
        try (Engine e = Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry())) {
            return e.recoveryReport();
        }
    }

    private static void assertRepairedStoreIsHealthy(RepairReport report) throws Exception {
        assertTrue(Files.isDirectory(report.backup()), "backup left at " + report.backup());
        assertTrue(Files.exists(report.backup().resolve("CURRENT")), "backup is a whole copy");
        assertTrue(Files.exists(report.reportFile()), "report file left at " + report.reportFile());
        assertEquals(report.toText(), Files.readString(report.reportFile()));
        VerifyReport verify = StoreVerifier.verify(report.dir());
        assertTrue(verify.ok(), verify.toText());
    }

    @Test
    void damagedQueuesBlockLosesOnlyItsEntriesAndSaysWhose() throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        RepairFixtures.damageFirstDataBlock(data, StoreColumn.QUEUES);
        assertThrows(StoreOpenException.class, () -> openEngine(data));

        RepairReport report = StoreRepair.repair(data, Durability.FSYNC);
        String text = report.toText();
        assertEquals(1, report.unreadable().size(), text);
        assertEquals(StoreColumn.QUEUES, report.unreadable().get(0).column());
        assertNotNull(report.unreadable().get(0).resumedAt(), "reading went on after the damaged block: " + text);
        long written = (long) RepairFixtures.CLIENTS * RepairFixtures.QUEUED_PER_CLIENT;
        long left = report.after().queued();
        assertTrue(left < written && left > written / 2, "lost one block's worth, not the rest: " + text);
        // Each body had one queue entry: every lost entry left exactly one orphan body behind.
        assertEquals(written - left, report.orphanBodiesDropped(), text);
        // RocksDB's file metadata, minus what was read, gives the same count of unreadable entries.
        assertEquals(written - left, report.unreadableCounts().get(StoreColumn.QUEUES), text);
        // Everything else is whole.
        assertEquals(RepairFixtures.CLIENTS, report.after().sessions(), text);
        assertEquals((long) RepairFixtures.CLIENTS * RepairFixtures.INFLIGHT_PER_CLIENT, report.after().inflight(), text);
        assertEquals(RepairFixtures.RETAINED, report.after().retained(), text);
        // Per client id: the clients the damaged range names lost exactly the orphaned messages;
        // every other client kept its whole queue.
        List<String> named = report.clientsInRange(report.unreadable().get(0));
        assertFalse(named.isEmpty(), text);
        long lostByNamed = 0;
        for (String c : report.before().clients().keySet()) {
            long queued = report.after().client(c).queued();
            if (named.contains(c)) {
                lostByNamed += RepairFixtures.QUEUED_PER_CLIENT - queued;
                assertTrue(text.contains("'" + c + "': 1 subscriptions, " + queued + " queued"), text);
            } else {
                assertEquals(RepairFixtures.QUEUED_PER_CLIENT, queued, c + ": " + text);
            }
        }
        assertEquals(report.orphanBodiesDropped(), lostByNamed, text);
        assertRepairedStoreIsHealthy(report);

        RecoveryReport recovered = openEngine(data);
        assertEquals(left, recovered.queuedMessages());
        assertEquals(RepairFixtures.CLIENTS, recovered.sessions());
    }

    @Test
    void damagedSessionsBlockReportsEachLostClientsRecords() throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        RepairFixtures.damageFirstDataBlock(data, StoreColumn.SESSIONS);

        RepairReport report = StoreRepair.repair(data, null);
        String text = report.toText();
        List<RepairReport.ClientLoss> losses = report.losses();
        assertFalse(losses.isEmpty(), text);
        assertTrue(losses.size() < RepairFixtures.CLIENTS, text);
        for (RepairReport.ClientLoss l : losses) {
            // The session record was in the damaged block, so all of its records went with it.
            assertFalse(l.session(), "its session record was never readable: " + l);
            assertEquals(1, l.subscriptions(), l.toString());
            assertEquals(RepairFixtures.QUEUED_PER_CLIENT, l.queued(), l.toString());
            assertEquals(RepairFixtures.INFLIGHT_PER_CLIENT, l.inflight(), l.toString());
            assertEquals(RepairFixtures.QOS2_PER_CLIENT, l.qos2Received(), l.toString());
            assertTrue(text.contains("'" + l.clientId() + "'"), text);
        }
        assertEquals(RepairFixtures.CLIENTS - losses.size(), report.after().sessions(), text);
        assertEquals(losses.size(), report.unreadableCounts().get(StoreColumn.SESSIONS), text);
        assertRepairedStoreIsHealthy(report);
        assertEquals(RepairFixtures.CLIENTS - losses.size(), openEngine(data).sessions());
    }

    @Test
    void garbledWalTailIsCutAtTheLastConsistentPoint() throws Exception {
        Path data = dir.resolve("data");
        // os mode, nothing flushed to SST: everything is in the WAL.
        try (Store store = Store.open(data, Durability.OS)) {
            RepairFixtures.fill(store, 50, 5);
        }
        Path wal;
        try (Stream<Path> files = Files.list(data)) {
            wal = files.filter(p -> p.toString().endsWith(".log")).max(Comparator.comparing(Path::toString)).orElseThrow();
        }
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            assertTrue(f.length() > 4096, "the records are in the WAL: " + f.length());
            // A power cut that garbled the last write: the last batch (the retained messages).
            f.seek(f.length() - 700);
            byte[] garbage = new byte[400];
            new java.util.Random(3).nextBytes(garbage);
            f.write(garbage);
        }
        StoreOpenException refused = assertThrows(StoreOpenException.class, () -> openEngine(data));
        assertEquals(StoreOpenException.Reason.CORRUPT, refused.reason(), refused.getMessage());

        RepairReport report = StoreRepair.repair(data, Durability.FSYNC);
        String text = report.toText();
        assertNotNull(report.walDamage(), text);
        assertTrue(text.contains("held nothing that was acknowledged"), text);
        assertEquals(50, report.after().sessions(), "every batch before the garbled one is kept: " + text);
        assertEquals(250, report.after().queued(), text);
        assertEquals(0, report.after().retained(), "the garbled last batch is gone: " + text);
        assertRepairedStoreIsHealthy(report);
        assertEquals(250, openEngine(data).queuedMessages());
    }

    @Test
    void truncatedWalTailIsCutByTheNormalOpen() throws Exception {
        Path data = dir.resolve("data");
        try (Store store = Store.open(data, Durability.OS)) {
            RepairFixtures.fill(store, 50, 5);
        }
        Path wal = newestWal(data);
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            // A power cut in the middle of the last write: its end never reached the disk.
            f.setLength(f.length() - 300);
        }
        RecoveryReport opened = openEngine(data);
        assertEquals(50, opened.sessions(), "every batch before the torn one is there");
        assertEquals(0, opened.retainedMessages(), "the torn last batch is dropped");
        assertTrue(StoreVerifier.verify(data).ok());
    }

    private static Path newestWal(Path data) throws Exception {
        try (Stream<Path> files = Files.list(data)) {
            return files.filter(p -> p.toString().endsWith(".log")).max(Comparator.comparing(Path::toString)).orElseThrow();
        }
    }

    @Test
    void refusesWhileABrokerHoldsTheStore() throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), HoldStore.class.getName(), data.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream()));
            assertEquals("OPEN", out.readLine());
            RepairRefusedException e = assertThrows(RepairRefusedException.class, () -> StoreRepair.repair(data, null));
            assertTrue(e.getMessage().contains("a broker is running on it"), e.getMessage());
            try (Stream<Path> siblings = Files.list(dir)) {
                assertEquals(1, siblings.count(), "no backup made, nothing changed");
            }
        } finally {
            child.getOutputStream().close();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        // Once the holder is gone, repair of a healthy store runs and loses nothing.
        RepairReport report = StoreRepair.repair(data, null);
        assertTrue(report.nothingLost(), report.toText());
        assertRepairedStoreIsHealthy(report);
    }
}
