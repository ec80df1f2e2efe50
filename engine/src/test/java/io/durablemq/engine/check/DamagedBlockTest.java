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
 *
 * <p>Recovery no longer reads every block: here each damaged block is still met at open because
 * it holds records recovery reads (the fixture's first block of {@code queues} is in its first
 * clients' first pages; the first block of {@code messages} holds bodies of in-flight entries,
 * which recovery looks up). Damage in blocks recovery does not read is found by the background
 * check ({@code QueuedMessagesDamageTest}).
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

        StoreOpenException e = assertThrows(StoreOpenException.class,
                () -> Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close());
        assertEquals(StoreOpenException.Reason.CORRUPT, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("column family " + column.cfName()), e.getMessage());
        assertTrue(e.getMessage().contains(sst.getFileName().toString()), e.getMessage());
        assertTrue(e.getMessage().contains("durablemq repair"), e.getMessage());

        VerifyReport report = StoreVerifier.verify(data);
        assertFalse(report.ok(), report.toText());
        assertNull(report.openError(), report.toText());
        assertTrue(report.checksumError() != null, "verifyChecksum sees the block: " + report.toText());
        assertEquals(1, report.readErrors().size(), report.toText());
        assertEquals(column, report.readErrors().get(0).column());
        assertTrue(report.toText().contains(sst.getFileName().toString()), report.toText());

        // The engine refused without changing anything: the refusal is the same on a second try.
        assertEquals(StoreOpenException.Reason.CORRUPT, assertThrows(StoreOpenException.class,
                () -> Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close()).reason());

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
            assertEquals(BackgroundCheck.State.PASSED, engine.awaitBackgroundCheck(java.time.Duration.ofSeconds(60)).state());
        }
    }
}
