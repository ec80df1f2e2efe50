package io.durablemq.engine.check;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.repair.RepairReport;
import io.durablemq.engine.repair.StoreRepair;
import io.durablemq.engine.store.ReadOnlyStore;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A damaged data block in the SST file of each column family that holds data: the store still
 * opens at the RocksDB level (the damage is not in a footer or index), so only a read meets
 * it. The engine must refuse to start (CORRUPT, naming the column family and the file) rather
 * than build its state from a partial scan, verify must report it, and repair must report the
 * loss and leave a store that verifies and opens.
 */
@Timeout(120)
class DamagedBlockTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(value = StoreColumn.class, names = {"SESSIONS", "SUBSCRIPTIONS", "MESSAGES", "QUEUES", "INFLIGHT",
            "QOS2_RECEIVED", "RETAINED", "WILLS"})
    void damagedDataBlockRefusesTheStartAndVerifyReportsIt(StoreColumn column) throws Exception {
        Path data = dir.resolve("data");
        RepairFixtures.create(data);
        Path sst = RepairFixtures.damageFirstDataBlock(data, column);

        // RocksDB itself opens the store: the damage is in a data block, met only by a read.
        try (ReadOnlyStore ro = ReadOnlyStore.open(data)) {
            assertTrue(ro.formatVersion() >= 1);
        }

        if (column == StoreColumn.MESSAGES) {
            assertFoundInTheBackground(data, column, sst);
        } else {
            StoreOpenException e = assertThrows(StoreOpenException.class,
                    () -> Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close());
            assertEquals(StoreOpenException.Reason.CORRUPT, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains("column family " + column.cfName()), e.getMessage());
            assertTrue(e.getMessage().contains(sst.getFileName().toString()), e.getMessage());
            assertTrue(e.getMessage().contains("durablemq repair"), e.getMessage());
        }

        VerifyReport report = StoreVerifier.verify(data);
        assertFalse(report.ok(), report.toText());
        assertNull(report.openError(), report.toText());
        assertTrue(report.checksumError() != null, "verifyChecksum sees the block: " + report.toText());
        assertEquals(1, report.readErrors().size(), report.toText());
        assertEquals(column, report.readErrors().get(0).column());
        assertTrue(report.toText().contains(sst.getFileName().toString()), report.toText());

        // The engine changed nothing: the refusal (or the background report) is the same on a second try.
        if (column == StoreColumn.MESSAGES) {
            assertFoundInTheBackground(data, column, sst);
        } else {
            assertEquals(StoreOpenException.Reason.CORRUPT, assertThrows(StoreOpenException.class,
                    () -> Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close()).reason());
        }

        // Repair reads around the damaged block, reports the loss and leaves a store that verifies and opens.
        RepairReport repaired = StoreRepair.repair(data, null);
        assertEquals(1, repaired.unreadable().size(), repaired.toText());
        assertEquals(column, repaired.unreadable().get(0).column(), repaired.toText());
        assertFalse(repaired.nothingLost(), repaired.toText());
        assertTrue(Files.exists(repaired.reportFile()));
        assertTrue(StoreVerifier.verify(data).ok(), StoreVerifier.verify(data).toText());
        try (Engine engine = Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry())) {
            assertEquals(repaired.after().queued(), engine.recoveryReport().queuedMessages());
            assertEquals(repaired.after().sessions(), engine.recoveryReport().sessions());
            assertEquals(BackgroundCheck.State.PASSED, engine.awaitBackgroundCheck(Duration.ofSeconds(60)).state());
        }
    }

    /**
     * Bodies are not read by recovery (only the last key of {@code messages}, for the next id): a
     * damaged block among them is met by the background check after the start, which reports it
     * (state, read error naming the column family and the file, the gauge) and changes nothing.
     * The trade-off: start time independent of the backlog against refusing at open; a body in the
     * damaged block is also met when a delivery reads it (that delivery fails, loudly).
     */
    private static void assertFoundInTheBackground(Path data, StoreColumn column, Path sst) throws Exception {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        try (Engine engine = Engine.open(EngineConfig.defaults(data), meters)) {
            BackgroundCheck.Report r = engine.awaitBackgroundCheck(Duration.ofSeconds(60));
            assertEquals(BackgroundCheck.State.FOUND_PROBLEMS, r.state(), String.valueOf(r));
            assertEquals(1, r.readErrors().size(), String.valueOf(r));
            assertEquals(column, r.readErrors().get(0).column());
            assertTrue(String.valueOf(r.readErrors().get(0).file()).contains(sst.getFileName().toString()),
                    String.valueOf(r.readErrors()));
            assertEquals(1.0, meters.get("durablemq.background.check.violations").gauge().value());
        }
    }
}
