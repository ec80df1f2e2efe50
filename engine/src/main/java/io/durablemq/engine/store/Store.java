package io.durablemq.engine.store;

import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.Status;
import org.rocksdb.WALRecoveryMode;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The RocksDB instance under the data folder: opening with format and integrity checks,
 * column-family handles, synchronous or OS-buffered writes. Knows nothing of MQTT.
 */
public final class Store implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Store.class);
    /** RocksDB's info LOG is rolled at this size... */
    static final long INFO_LOG_FILE_BYTES = 16L * 1024 * 1024;
    /** ...and this many old ones are kept, so the folder's log files stay bounded. */
    static final long INFO_LOG_FILES_KEPT = 5;
    static final long MANIFEST_FILE_BYTES = 64L * 1024 * 1024;

    static {
        NativeLibrary.load(); // one stable copy, not a fresh 17 MB file in /tmp per start
    }

    private final Path dir;
    private final RocksDB db;
    private final DBOptions dbOptions;
    private final ColumnOptions cfOptions;
    private final List<ColumnFamilyHandle> allHandles;
    private final Map<StoreColumn, ColumnFamilyHandle> handles;
    private final WriteOptions writeOptions;
    /** Set by the first {@link #close()}. */
    private boolean closed;
    private final ReadOptions readOptions = new ReadOptions();

    private Store(Path dir, RocksDB db, DBOptions dbOptions, ColumnOptions cfOptions,
                  List<ColumnFamilyHandle> allHandles, Map<StoreColumn, ColumnFamilyHandle> handles,
                  Durability durability) {
        this.dir = dir;
        this.db = db;
        this.dbOptions = dbOptions;
        this.cfOptions = cfOptions;
        this.allHandles = allHandles;
        this.handles = handles;
        this.writeOptions = new WriteOptions().setSync(durability == Durability.FSYNC);
    }

    /**
     * Opens the store in {@code dir}, creating it if the folder is missing or empty. Anything
     * else that is not a healthy store of a format this build reads is refused; before RocksDB
     * replays the WAL, {@link WalPreCheck} refuses WAL damage with valid writes after it (RocksDB
     * would skip a zeroed header without an error).
     */
    public static Store open(Path dir, Durability durability) throws StoreOpenException {
        return open(dir, durability, ColumnOptions.Profile.configured());
    }

    /** As {@link #open(Path, Durability)} with the column-family options of {@code profile}. */
    public static Store open(Path dir, Durability durability, ColumnOptions.Profile profile) throws StoreOpenException {
        boolean fresh = isMissingOrEmpty(dir);
        if (!fresh && !Files.exists(dir.resolve("CURRENT"))) {
            throw new StoreOpenException(StoreOpenException.Reason.NOT_A_STORE, dir,
                    "the folder holds files but no RocksDB store (no CURRENT file); point data_path at an empty or DurableMQ folder", null);
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StoreOpenException(StoreOpenException.Reason.IO_ERROR, dir, e.toString(), e);
        }
        boolean addColumns = false;
        if (!fresh) {
            addColumns = checkColumnFamilies(dir);
            WalPreCheck.refuseSkippableDamage(dir);
        }
        DBOptions dbOptions = new DBOptions()
                .setCreateIfMissing(fresh)
                .setCreateMissingColumnFamilies(fresh || addColumns) // an older format's store: FormatUpgrade
                .setParanoidChecks(true)
                // The default (point-in-time) silently drops everything after a damaged WAL
                // record, which would start the broker without acknowledged messages. This mode
                // tolerates only a last record cut short by the file's end; a full-length record
                // with damaged bytes (a torn write: a power cut during the write can leave that,
                // and so can damage to a synced record) refuses to open, and classify() says
                // where and that `durablemq repair` is the next step.
                .setWalRecoveryMode(WALRecoveryMode.TolerateCorruptedTailRecords)
                .setMaxTotalWalSize(256L * 1024 * 1024)
                // RocksDB's info LOG grows without end by default (rolled only when the store is
                // opened again): the one-hour soak wrote 18 MB an hour of flush and compaction
                // lines. Rolled at 16 MiB and 5 kept: at most about 96 MB, whatever the uptime.
                .setMaxLogFileSize(INFO_LOG_FILE_BYTES)
                .setKeepLogFileNum(INFO_LOG_FILES_KEPT)
                // The MANIFEST (one edit per flush and compaction) is rewritten from scratch at
                // this size instead of RocksDB's default 1 GiB.
                .setMaxManifestFileSize(MANIFEST_FILE_BYTES)
                .setMaxBackgroundJobs(2);
        // Per record kind (ColumnOptions); options only, so any profile opens any store.
        ColumnOptions cfOptions = ColumnOptions.create(profile);
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, cfOptions.forDefaultColumn()));
        for (StoreColumn c : StoreColumn.values()) {
            descriptors.add(new ColumnFamilyDescriptor(c.cfNameBytes(), cfOptions.forColumn(c)));
        }
        List<ColumnFamilyHandle> allHandles = new ArrayList<>();
        RocksDB db;
        try {
            db = RocksDB.open(dbOptions, dir.toString(), descriptors, allHandles);
        } catch (RocksDBException e) {
            dbOptions.close();
            cfOptions.close();
            throw explainWalDamage(dir, classify(dir, e), e);
        }
        Map<StoreColumn, ColumnFamilyHandle> handles = new EnumMap<>(StoreColumn.class);
        for (int i = 0; i < StoreColumn.values().length; i++) {
            handles.put(StoreColumn.values()[i], allHandles.get(i + 1));
        }
        Store store = new Store(dir, db, dbOptions, cfOptions, allHandles, handles, durability);
        try {
            store.checkOrWriteFormat(fresh, addColumns);
        } catch (StoreOpenException e) {
            store.close();
            throw e;
        }
        return store;
    }

    private static boolean isMissingOrEmpty(Path dir) throws StoreOpenException {
        if (!Files.exists(dir)) {
            return true;
        }
        if (!Files.isDirectory(dir)) {
            throw new StoreOpenException(StoreOpenException.Reason.NOT_A_STORE, dir, "it is a file, not a folder", null);
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            throw new StoreOpenException(StoreOpenException.Reason.IO_ERROR, dir, e.toString(), e);
        }
    }

    /** Refuses a database without DurableMQ's column families; true when only ones a newer format added are missing. */
    private static boolean checkColumnFamilies(Path dir) throws StoreOpenException {
        List<byte[]> present;
        try (Options options = new Options()) {
            present = RocksDB.listColumnFamilies(options, dir.toString());
        } catch (RocksDBException e) {
            throw classify(dir, e);
        }
        Set<String> names = new HashSet<>();
        for (byte[] n : present) {
            names.add(new String(n, StandardCharsets.UTF_8));
        }
        List<String> missing = new ArrayList<>();
        for (StoreColumn c : StoreColumn.values()) {
            if (!names.contains(c.cfName())) {
                missing.add(c.cfName());
            }
        }
        if (FormatUpgrade.missingColumnsAreAddedOnes(missing)) {
            return true;
        }
        if (!missing.isEmpty()) {
            throw new StoreOpenException(StoreOpenException.Reason.NOT_A_STORE, dir,
                    "a RocksDB database without DurableMQ's column families " + missing, null);
        }
        return false;
    }

    /**
     * RocksDB's corruption message for a WAL record ("checksum mismatch") names no file: when a
     * WAL file holds a damaged record ({@link WalDamage}), the refusal names it, says whether the
     * damage is confined to the WAL's last write, and gives the repair command.
     */
    private static StoreOpenException explainWalDamage(Path dir, StoreOpenException refused, RocksDBException e) {
        if (refused.reason() != StoreOpenException.Reason.CORRUPT) {
            return refused;
        }
        try {
            return WalDamage.find(dir)
                    .map(d -> new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir, d.refusal(dir, e.getMessage()), e))
                    .orElse(refused);
        } catch (IOException io) {
            refused.addSuppressed(io);
            return refused;
        }
    }

    private static StoreOpenException classify(Path dir, RocksDBException e) {
        Status.Code code = e.getStatus() == null ? null : e.getStatus().getCode();
        if (code == Status.Code.Corruption) {
            return new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir, e.getMessage(), e);
        }
        String msg = String.valueOf(e.getMessage());
        if (msg.contains("lock")) {
            return new StoreOpenException(StoreOpenException.Reason.IO_ERROR, dir,
                    "locked by another process (is another broker running on this folder?): " + msg, e);
        }
        if (msg.toLowerCase().contains("corrupt") || msg.contains("checksum")) {
            return new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir, msg, e);
        }
        return new StoreOpenException(StoreOpenException.Reason.IO_ERROR, dir, msg, e);
    }

    private void checkOrWriteFormat(boolean fresh, boolean addedColumns) throws StoreOpenException {
        try {
            byte[] version = db.get(handle(StoreColumn.META), StoreFormat.VERSION_KEY);
            if (version == null) {
                if (!fresh && allColumnsEmpty()) {
                    // A crash between creating the column families and writing the format
                    // record leaves an empty store: nothing to lose, so finish creating it.
                    log.warn("store in {} was never fully created (no format record, no data): creating it now",
                            dir.toAbsolutePath());
                    fresh = true;
                }
                if (!fresh) {
                    throw new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir,
                            "DurableMQ's column families are there but the format version record is missing", null);
                }
                try (WriteBatch batch = new WriteBatch(); WriteOptions sync = new WriteOptions().setSync(true)) {
                    batch.put(handle(StoreColumn.META), StoreFormat.VERSION_KEY,
                            ByteBuffer.allocate(4).putInt(StoreFormat.CURRENT).array());
                    batch.put(handle(StoreColumn.META), StoreFormat.CREATED_KEY,
                            ByteBuffer.allocate(8).putLong(System.currentTimeMillis()).array());
                    db.write(sync, batch);
                }
                log.info("created a new store (format {}) in {}", StoreFormat.CURRENT, dir.toAbsolutePath());
                return;
            }
            if (version.length != 4) {
                throw new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir,
                        "format version record has " + version.length + " bytes, expected 4", null);
            }
            int v = ByteBuffer.wrap(version).getInt();
            if (v > StoreFormat.CURRENT) {
                throw new StoreOpenException(StoreOpenException.Reason.NEWER_FORMAT, dir,
                        "store format " + v + ", this build reads format " + StoreFormat.CURRENT
                                + " or older; run a newer DurableMQ", null);
            }
            if (v < 1) {
                throw new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir, "invalid format version " + v, null);
            }
            if (addedColumns && v >= 2) {
                throw new StoreOpenException(StoreOpenException.Reason.CORRUPT, dir, "store format " + v
                        + " without the column families " + FormatUpgrade.ADDED_SINCE_1 + " that format has", null);
            }
            if (v < StoreFormat.CURRENT) {
                FormatUpgrade.columnsAdded(dir, v); // the engine's QueueCountersUpgrade writes the new version
            }
        } catch (RocksDBException e) {
            throw classify(dir, e);
        }
    }

    private boolean allColumnsEmpty() {
        for (StoreColumn c : StoreColumn.values()) {
            try (RocksIterator it = db.newIterator(handle(c))) {
                it.seekToFirst();
                if (it.isValid()) {
                    return false;
                }
            }
        }
        return true;
    }

    public Path dir() {
        return dir;
    }

    public ColumnFamilyHandle handle(StoreColumn column) {
        return handles.get(column);
    }

    /** Writes a batch; synced to disk in fsync mode. Throws on any failure (disk full, I/O error). */
    public void write(WriteBatch batch) throws RocksDBException {
        db.write(writeOptions, batch);
    }

    /**
     * Writes a batch without the WAL: for offline bulk builders only (benchmarks'
     * {@code BulkBacklogStore}), which call {@link #flushAll()} before closing; never the engine.
     */
    public void writeWithoutWal(WriteBatch batch) throws RocksDBException {
        try (WriteOptions noWal = new WriteOptions().setDisableWAL(true)) {
            db.write(noWal, batch);
        }
    }

    public byte[] get(StoreColumn column, byte[] key) {
        try {
            return db.get(handle(column), readOptions, key);
        } catch (RocksDBException e) {
            throw new StoreWriteException("read of " + column.cfName() + " failed: " + e.getMessage(), e);
        }
    }

    public RocksIterator iterator(StoreColumn column) {
        return db.newIterator(handle(column));
    }

    /**
     * Point reads of several keys of one column family in one call (RocksDB's MultiGet: one JNI
     * crossing, lookups batched per block). Pass the keys sorted: they are then read in key
     * order. The answer is in the keys' order, null where a key is absent.
     */
    public List<byte[]> multiGet(StoreColumn column, List<byte[]> keys) {
        if (keys.isEmpty()) {
            return List.of();
        }
        try {
            return db.multiGetAsList(readOptions, java.util.Collections.nCopies(keys.size(), handle(column)), keys);
        } catch (RocksDBException e) {
            throw new StoreWriteException("read of " + column.cfName() + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * Which of {@code sortedKeys} (ascending in the store's bytewise order, no duplicates) have a
     * record in {@code column}: one iterator walks them in key order, seeking only to a key it is
     * not already at or past, so a column family with few records costs about one seek per call.
     * A failed read throws (the iterator's status is checked wherever it ends): this is for
     * callers that act on "absent" as a fact (a body's only reference,
     * {@code queue.SoleReferenceReader}).
     *
     * <p>Why not MultiGet: RocksJava's {@code multiGetAsList} answers {@code null} for a key whose
     * read failed with anything but corruption (an I/O error reads as "absent",
     * facebook/rocksdb#12741), and {@code multiGetByteBuffers}, which returns a status per key,
     * builds a Java {@code Status} object per key through JNI: measured with
     * {@code RecoveryBenchmark} (1,000 sessions, 64,000 keys) it made recovery 1.6-3.8 s instead
     * of 0.1-0.4 s on this loaded machine.
     */
    public boolean[] keysPresent(StoreColumn column, List<byte[]> sortedKeys) {
        int n = sortedKeys.size();
        boolean[] present = new boolean[n];
        if (n == 0) {
            return present;
        }
        try (RocksIterator it = db.newIterator(handle(column), readOptions)) {
            byte[] at = null; // the iterator's key, null before the first seek
            for (int i = 0; i < n; i++) {
                byte[] k = sortedKeys.get(i);
                if (at == null || java.util.Arrays.compareUnsigned(at, k) < 0) {
                    it.seek(k);
                    if (!it.isValid()) {
                        it.status(); // an error, not the end: throws
                        break; // past the last record: the rest are absent
                    }
                    at = it.key();
                }
                present[i] = java.util.Arrays.equals(at, k);
            }
            it.status();
        } catch (RocksDBException e) {
            throw new StoreWriteException("read of " + column.cfName() + " failed: " + e.getMessage(), e);
        }
        return present;
    }

    /**
     * Writes a RocksDB checkpoint into {@code target}, which must not exist: a complete store
     * holding every write that returned before the call (memtables are flushed, SST files
     * hard-linked, or copied across file systems, WAL and manifest copied). Writes may continue.
     */
    public void checkpoint(Path target) throws RocksDBException {
        try (org.rocksdb.Checkpoint checkpoint = org.rocksdb.Checkpoint.create(db)) {
            checkpoint.createCheckpoint(target.toString());
        }
    }

    /** Bytes of the data folder on disk (SST, WAL, manifest). */
    public long sizeOnDisk() {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    return 0; // a file compacted away while we walk
                }
            }).sum();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * An integer RocksDB property summed over this store's column families; -1 if unavailable.
     * Some integer-valued properties exist only as strings (e.g. {@code rocksdb.num-files-at-level0}):
     * those are parsed.
     */
    public long longPropertySum(String name) {
        long sum = 0;
        for (StoreColumn c : StoreColumn.values()) {
            try {
                sum += db.getLongProperty(handle(c), name);
            } catch (RocksDBException e) {
                try {
                    sum += Long.parseLong(db.getProperty(handle(c), name).trim());
                } catch (RocksDBException | NumberFormatException | NullPointerException notANumber) {
                    return -1;
                }
            }
        }
        return sum;
    }

    public String property(StoreColumn column, String name) {
        try {
            return db.getProperty(handle(column), name);
        } catch (RocksDBException e) {
            return null;
        }
    }

    // ------------------------------------------------------------------ checks and tests
    // (grouped here: used by recovery's scan, by durablemq verify/repair and by tests)

    /** An iterator with explicit read options (recovery scans with checksums on, no cache fill). */
    public RocksIterator iterator(StoreColumn column, ReadOptions options) {
        return db.newIterator(handle(column), options);
    }

    /** A consistent view at a batch boundary (the background check reads one); release it with {@link #release}. */
    public org.rocksdb.Snapshot snapshot() {
        return db.getSnapshot();
    }

    public void release(org.rocksdb.Snapshot snapshot) {
        db.releaseSnapshot(snapshot);
    }

    /** A point read with explicit read options (a snapshot). */
    public byte[] get(StoreColumn column, byte[] key, ReadOptions options) {
        try {
            return db.get(handle(column), options, key);
        } catch (RocksDBException e) {
            throw new StoreWriteException("read of " + column.cfName() + " failed: " + e.getMessage(), e);
        }
    }

    /** Writes every column family's memtable to SST files (tests use it to put data on disk). */
    public void flushAll() throws RocksDBException {
        try (org.rocksdb.FlushOptions options = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
            db.flush(options, new ArrayList<>(handles.values()));
        }
    }

    /**
     * Writes every column family's memtable to SST files unless the store is closed (then false,
     * nothing done). Writes continue meanwhile, into fresh memtables. A cluster node calls it off its
     * apply thread before a Raft snapshot, so that the checkpoint's own flush, which holds applies
     * back, finds only the writes of the last moments. Synchronized with {@link #close()}: a close
     * waits for a flush in progress instead of pulling the database from under it.
     */
    public synchronized boolean flushIfOpen() throws RocksDBException {
        if (closed) {
            return false;
        }
        flushAll();
        return true;
    }

    /** Table properties (entries, deletions, sizes) of every live SST file of {@code column}. */
    public Map<String, org.rocksdb.TableProperties> tableProperties(StoreColumn column) throws RocksDBException {
        return db.getPropertiesOfAllTables(handle(column));
    }

    /** The live SST files with their column family, level and key range. */
    public List<org.rocksdb.LiveFileMetaData> liveSstFiles() {
        return db.getLiveFilesMetaData();
    }

    @Override
    /**
     * Idempotent: a second call does nothing. The engine's reset after a failed commit closes the
     * store before reopening it; if the reopen fails and the engine is closed meanwhile (a cluster
     * node stepping down does exactly that), the same store is closed again, and RocksDB must not
     * see a closed handle (a native abort).
     */
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            db.syncWal();
        } catch (RocksDBException e) {
            log.warn("WAL sync on close failed: {}", e.getMessage());
        }
        for (ColumnFamilyHandle h : allHandles) {
            h.close();
        }
        db.close();
        writeOptions.close();
        readOptions.close();
        dbOptions.close();
        cfOptions.close();
    }
}
