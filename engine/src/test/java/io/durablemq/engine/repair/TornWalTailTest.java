package io.durablemq.engine.repair;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.RecoveryReport;
import io.durablemq.engine.check.RepairFixtures;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.durablemq.engine.store.WalDamage;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A torn last WAL write as LazyFS leaves it after a power cut during the write (seen in
 * {@code PowerCutIT}): the record keeps its full length and its header, but bytes inside its
 * payload are zeros. RocksDB's open refuses it ("checksum mismatch", no file named); the refusal
 * must name the WAL file and the repair command, and repair must find the damage confined to the
 * newest WAL's tail and, in fsync mode, say nothing acknowledged was lost. Damage with valid writes
 * after it must not be called a torn tail.
 */
@Timeout(120)
class TornWalTailTest {
    private static final int SESSIONS = 50;

    @TempDir
    Path dir;

    private static RecoveryReport openEngine(Path data) throws StoreOpenException {
        try (Engine e = Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry())) {
            return e.recoveryReport();
        }
    }

    /** Where the last small write's record starts in the newest WAL file (set by {@link #storeWithALastSmallWrite}). */
    private long lastRecordStart;

    /** 50 sessions with queues (fsync, all in the WAL), then one last small write: a session record of its own. */
    private Path storeWithALastSmallWrite(Path data) throws Exception {
        try (Store store = Store.open(data, Durability.FSYNC)) {
            RepairFixtures.fill(store, SESSIONS, 5);
            lastRecordStart = Files.size(newestWal(data)); // synced: the next record starts here
            try (WriteBatch b = new WriteBatch()) {
                b.put(store.handle(StoreColumn.SESSIONS), Keys.session("the-last-write"),
                        new SessionRecord(86_400, System.currentTimeMillis())
                                .withQueue(NO_QUEUE_NONZERO_SEQ).encode());
                store.write(b);
            }
        }
        return newestWal(data);
    }

    private static Path newestWal(Path data) throws Exception {
        try (Stream<Path> files = Files.list(data)) {
            return files.filter(p -> p.toString().endsWith(".log")).max(Comparator.comparing(Path::toString)).orElseThrow();
        }
    }

    /** The first record start in [from, to] of the WAL's first block, walking its framing (legacy 7-byte headers). */
    private static long recordStartWithin(Path wal, long from, long to) throws Exception {
        byte[] data = Files.readAllBytes(wal);
        int pos = 0;
        while (pos + 7 <= 32 * 1024) {
            if (pos >= from && pos <= to) {
                return pos;
            }
            int length = (data[pos + 4] & 0xff) | (data[pos + 5] & 0xff) << 8;
            pos += 7 + length;
        }
        throw new AssertionError("no record starts in [" + from + ", " + to + "] of the first block");
    }

    /** Zeros 10 bytes at {@code offset} (as LazyFS's torn-op leaves the unpersisted middle part of a write). */
    /**
     * An empty queue's counters whose next sequence number has no zero byte: the tests zero bytes
     * near the end of this record (the last write) and check that they were not zero already.
     */
    private static final io.durablemq.engine.queue.QueueCounters NO_QUEUE_NONZERO_SEQ =
            new io.durablemq.engine.queue.QueueCounters(0, 0, 0x0123_4567_89AB_CDEFL);

    private static void zero(Path file, long offset) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            byte[] was = new byte[10];
            f.seek(offset);
            f.readFully(was);
            boolean anyNonZero = false;
            for (byte x : was) {
                anyNonZero |= x != 0;
            }
            assertTrue(anyNonZero, "the bytes at " + offset + " were already zero: the test would damage nothing");
            f.seek(offset);
            f.write(new byte[10]);
        }
    }

    @Test
    void tornLastWriteIsRefusedNamingTheWalAndRepairSaysNothingAcknowledgedWasLost() throws Exception {
        Path data = dir.resolve("data");
        Path wal = storeWithALastSmallWrite(data);
        long length = Files.size(wal);
        // the last record is the small session write (header 7 bytes, payload over 30): inside its payload
        zero(wal, length - 15);

        StoreOpenException refused = assertThrows(StoreOpenException.class, () -> openEngine(data));
        String msg = refused.getMessage();
        assertEquals(StoreOpenException.Reason.CORRUPT, refused.reason(), msg);
        assertTrue(msg.contains(wal.toAbsolutePath().toString()), "names the WAL file: " + msg);
        assertTrue(msg.contains("confined to the WAL's last write"), msg);
        assertTrue(msg.contains("power cut during a write"), msg);
        assertTrue(msg.contains("never acknowledged"), msg);
        assertTrue(msg.contains("durablemq repair " + data.toAbsolutePath() + " --durability fsync"), msg);

        WalDamage damage = WalDamage.find(data).orElseThrow();
        assertEquals(WalDamage.Tail.CONFINED, damage.tail(), damage.where());
        assertTrue(damage.scan().firstBadOffset() > length - 100, damage.where());

        RepairReport report = StoreRepair.repair(data, Durability.FSYNC);
        String text = report.toText();
        assertTrue(report.walTailConfined(), text);
        assertEquals(report.walTail().scannedSequence(), report.walTail().recoveredSequence(), text);
        assertTrue(report.nothingAcknowledgedLost(), text);
        assertTrue(text.contains("WAL damage: CONFINED to the tail of the newest WAL file"), text);
        assertTrue(text.contains("held nothing that was acknowledged"), text);
        assertTrue(text.contains("nothing acknowledged was lost"), text);
        assertTrue(report.toJson().contains("\"nothingAcknowledgedLost\": true"), report.toJson());
        assertEquals(SESSIONS, report.after().sessions(), "every write before the torn one is kept: " + text);
        assertEquals(SESSIONS * 5L, report.after().queued(), text);
        assertTrue(StoreVerifier.verify(data).ok());
        assertEquals(SESSIONS, openEngine(data).sessions(), "the store opens after repair");
    }

    @Test
    void damageWithValidWritesAfterItIsNotCalledATornTail() throws Exception {
        Path data = dir.resolve("data");
        Path wal = storeWithALastSmallWrite(data);
        // inside the first block, with many whole writes after it
        zero(wal, 3_000);

        StoreOpenException refused = assertThrows(StoreOpenException.class, () -> openEngine(data));
        String msg = refused.getMessage();
        assertTrue(msg.contains(wal.toAbsolutePath().toString()), msg);
        assertTrue(msg.contains("NOT confined"), msg);
        assertFalse(msg.contains("never acknowledged"), msg);
        assertTrue(msg.contains("durablemq repair " + data.toAbsolutePath()), msg);

        RepairReport report = StoreRepair.repair(data, Durability.FSYNC);
        String text = report.toText();
        assertFalse(report.walTailConfined(), text);
        assertEquals(WalDamage.Tail.NOT_CONFINED, report.walTail().tail(), text);
        assertFalse(report.nothingAcknowledgedLost(), text);
        assertTrue(text.contains("WAL damage: NOT confined to the tail"), text);
        assertFalse(text.contains("held nothing that was acknowledged"), text);
        assertTrue(report.after().sessions() < SESSIONS, "the writes after the damage were cut: " + text);
        assertTrue(StoreVerifier.verify(data).ok());
    }

    @Test
    void aDamagedLengthThatHidesLaterWritesIsNotCalledATornTail() throws Exception {
        Path data = dir.resolve("data");
        Path wal = storeWithALastSmallWrite(data);
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            // the first record's length field (bytes 4-5) set to a length that runs to the end of the first
            // block: its declared extent now covers the whole writes that follow it in that block
            f.seek(4);
            int toBlockEnd = 32 * 1024 - 7;
            f.write(toBlockEnd & 0xff);
            f.write(toBlockEnd >>> 8);
        }
        WalDamage damage = WalDamage.find(data).orElseThrow();
        assertEquals(WalDamage.Tail.NOT_CONFINED, damage.tail(), damage.where());
        assertTrue(damage.scan().validAfter() > 0 && damage.scan().validAfter() < 32 * 1024, damage.where());
    }

    @Test
    void lastWriteCutShortIsNoDamageAndOpens() throws Exception {
        Path data = dir.resolve("data");
        Path wal = storeWithALastSmallWrite(data);
        long length = Files.size(wal);
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            f.setLength(length - 10); // the write's end never reached the disk
        }
        assertTrue(WalDamage.find(data).isEmpty(), "a record cut short by the file's end is not damage");
        assertTrue(io.durablemq.engine.store.WalFileScan.scan(wal).cutShortAt() > length - 100);
        assertEquals(SESSIONS, openEngine(data).sessions(), "RocksDB's open drops the cut-short last write by itself");
    }

    /**
     * LazyFS's torn-seq shape: the kernel handed the last write over in two pieces split at a page
     * boundary and only the second reached the disk, so the record's header and first bytes are
     * zeros and its last bytes are there. RocksDB reads a zero header as padding and silently skips
     * the rest of its block, so the store opens without the write; the scan calls it confined.
     */
    @Test
    void zeroedHeaderOfTheLastWriteIsConfinedAndDroppedByTheOpen() throws Exception {
        Path data = dir.resolve("data");
        Path wal = storeWithALastSmallWrite(data);
        long length = Files.size(wal);
        assertTrue(lastRecordStart % (32 * 1024) < 32 * 1024 - 7 && length - lastRecordStart > 20, "one small record");
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            f.seek(lastRecordStart);
            f.write(new byte[(int) (length - lastRecordStart - 6)]); // all but its last 6 bytes
        }
        WalDamage damage = WalDamage.find(data).orElseThrow();
        assertEquals(WalDamage.Tail.CONFINED, damage.tail(), damage.where());
        assertEquals(lastRecordStart, damage.scan().firstBadOffset(), damage.where());
        assertEquals(SESSIONS, openEngine(data).sessions(), "RocksDB skips the zeroed record by itself");
        assertEquals(SESSIONS, openEngine(data).sessions(), "and the next open too (the damaged WAL is gone or confined)");
    }

    /**
     * The other torn-seq shape: the last write spans a 32 KiB WAL block boundary (a page boundary
     * too) and only its piece after the boundary reached the disk, so a valid LAST fragment follows
     * zeros. RocksDB refuses it ("missing start of fragmented record"); the scan calls it confined.
     */
    @Test
    void lastWriteWhoseFirstFragmentIsLostIsRefusedAndConfined() throws Exception {
        Path data = dir.resolve("data");
        try (Store store = Store.open(data, Durability.FSYNC)) {
            RepairFixtures.fill(store, SESSIONS, 5);
            lastRecordStart = Files.size(newestWal(data));
            try (WriteBatch b = new WriteBatch()) {
                byte[] payload = new byte[40_000];
                new java.util.Random(5).nextBytes(payload);
                io.durablemq.engine.message.Message m = new io.durablemq.engine.message.Message("retained/big", payload, 1,
                        true, null, 0);
                b.put(store.handle(StoreColumn.RETAINED), Keys.retained(m.topic()),
                        io.durablemq.engine.message.MessageCodec.encode(m));
                store.write(b);
            }
        }
        Path wal = newestWal(data);
        long block = 32 * 1024;
        long boundary = (lastRecordStart / block + 1) * block;
        assertTrue(boundary - lastRecordStart >= 7 && Files.size(wal) > boundary, "the last write crosses a block");
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            f.seek(lastRecordStart);
            f.write(new byte[(int) (boundary - lastRecordStart)]);
        }
        StoreOpenException refused = assertThrows(StoreOpenException.class, () -> openEngine(data));
        assertTrue(refused.getMessage().contains("continues a write whose start is missing"), refused.getMessage());
        assertTrue(refused.getMessage().contains("confined to the WAL's last write"), refused.getMessage());
        RepairReport report = StoreRepair.repair(data, Durability.FSYNC);
        assertTrue(report.walTailConfined(), report.toText());
        assertTrue(report.nothingAcknowledgedLost(), report.toText());
        assertEquals(SESSIONS, openEngine(data).sessions());
    }

    /**
     * Media damage, not a torn tail: a zeroed record header before the last, synced record (a
     * power cut cannot zero synced bytes). RocksDB reads a zero header as padding and skips the rest
     * of that 32 KiB block without any error even in {@code TolerateCorruptedTailRecords} mode, so
     * its open would start without both synced writes. The WAL check before every open
     * ({@code store.WalPreCheck}) sees that a valid write follows the damage and refuses, naming
     * the file; verify reports it, repair reports it not confined (writes lost, uncounted), and then
     * the engine opens.
     */
    @Test
    void zeroedHeaderBeforeSyncedWritesIsRefusedVerifiedAndRepairedAsNotConfined() throws Exception {
        Path data = dir.resolve("data");
        long penultimate;
        try (Store store = Store.open(data, Durability.FSYNC)) {
            RepairFixtures.fill(store, SESSIONS, 5);
            penultimate = Files.size(newestWal(data));
            for (String client : new String[] {"second-last-write", "last-write"}) {
                try (WriteBatch b = new WriteBatch()) {
                    b.put(store.handle(StoreColumn.SESSIONS), Keys.session(client),
                            new SessionRecord(86_400, System.currentTimeMillis())
                                .withQueue(NO_QUEUE_NONZERO_SEQ).encode());
                    store.write(b); // synced: in a broker, acknowledged
                }
            }
        }
        Path wal = newestWal(data);
        assertTrue(penultimate / (32 * 1024) == (Files.size(wal) - 1) / (32 * 1024), "both writes in one block");
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            f.seek(penultimate);
            f.write(new byte[7]); // the second-last write's header
        }
        WalDamage damage = WalDamage.find(data).orElseThrow();
        assertEquals(WalDamage.Tail.NOT_CONFINED, damage.tail(), damage.where());

        StoreOpenException refused = assertThrows(StoreOpenException.class, () -> openEngine(data));
        String msg = refused.getMessage();
        assertEquals(StoreOpenException.Reason.CORRUPT, refused.reason(), msg);
        assertTrue(msg.contains(wal.toAbsolutePath().toString()), "names the WAL file: " + msg);
        assertTrue(msg.contains("at byte " + penultimate), "names the offset: " + msg);
        assertTrue(msg.contains("Valid writes follow the damaged region"), msg);
        assertTrue(msg.contains("durablemq verify " + data.toAbsolutePath()), msg);
        assertTrue(msg.contains("durablemq repair " + data.toAbsolutePath()), msg);
        assertThrows(StoreOpenException.class, () -> Store.open(data, Durability.FSYNC).close(), "the store's own open too");

        io.durablemq.engine.check.VerifyReport verified = StoreVerifier.verify(data);
        assertFalse(verified.ok(), verified.toText());
        assertTrue(verified.walDamage() != null && verified.walDamage().contains(wal.toAbsolutePath().toString()),
                verified.toText());

        RepairReport report = StoreRepair.repair(data, Durability.FSYNC);
        String text = report.toText();
        assertEquals(WalDamage.Tail.NOT_CONFINED, report.walTail().tail(), text);
        assertTrue(text.contains("WAL damage: NOT confined to the tail"), text);
        assertTrue(text.contains("cannot be counted"), text);
        assertFalse(report.nothingLost(), text);
        assertFalse(report.nothingAcknowledgedLost(), text);
        assertFalse(text.contains("nothing was lost"), text);
        assertTrue(StoreVerifier.verify(data).ok());
        assertEquals(SESSIONS, openEngine(data).sessions(), "the engine opens after repair, without the skipped writes");
    }

    /**
     * Zeros from a record's header to the end of its 32 KiB block read as padding to RocksDB too;
     * RocksDB's writer never pads more than 6 bytes, so with valid writes after them they are
     * damage the check refuses. Zeros to the end of the file (preallocated space) are not damage.
     */
    @Test
    void zerosToTheBlockEndBeforeValidWritesAreRefusedButTrailingZerosAreNot() throws Exception {
        Path data = dir.resolve("data");
        Path wal = storeWithALastSmallWrite(data);
        long length = Files.size(wal);
        assertTrue(length > 2 * 32 * 1024, "the WAL spans blocks");
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            f.setLength(length + 3 * 32 * 1024); // preallocated-looking zeros after the last record
        }
        assertTrue(WalDamage.find(data).isEmpty(), "trailing zeros are not damage");
        int block = 32 * 1024;
        // the record boundary that lies in the last 4 KiB page of the first block: zero from it to the block end
        long boundary = recordStartWithin(wal, block - 4096, block - 7);
        try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
            f.seek(boundary);
            f.write(new byte[(int) (block - boundary)]);
        }
        WalDamage damage = WalDamage.find(data).orElseThrow();
        assertEquals(WalDamage.Tail.NOT_CONFINED, damage.tail(), damage.where());
        assertEquals(boundary, damage.scan().firstBadOffset(), damage.where());
        StoreOpenException refused = assertThrows(StoreOpenException.class, () -> openEngine(data));
        assertTrue(refused.getMessage().contains("zeros to the end of its 32 KiB block"), refused.getMessage());
    }

    @Test
    void intactWalHasNoDamage() throws Exception {
        Path data = dir.resolve("data");
        storeWithALastSmallWrite(data);
        assertTrue(WalDamage.find(data).isEmpty());
        assertEquals(SESSIONS + 1, openEngine(data).sessions());
    }
}
