package io.durablemq.engine.store;

import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.LiveFileMetaData;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WALRecoveryMode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A store opened read-only for {@code durablemq verify} and {@code repair}: RocksDB's
 * read-only mode takes no lock and writes nothing to the folder (the WAL is replayed into
 * memory only). The WAL recovery mode is the caller's: verify uses the broker's own
 * (a damaged WAL refuses, as it would at a start), repair uses point-in-time recovery
 * (stop at the first bad record) to read what is before a torn tail.
 */
public final class ReadOnlyStore implements AutoCloseable {
    static {
        RocksDB.loadLibrary();
    }

    private final RocksDB db;
    private final DBOptions dbOptions;
    private final ColumnFamilyOptions cfOptions;
    private final List<ColumnFamilyHandle> allHandles;
    private final Path infoLogDir;
    private final Map<StoreColumn, ColumnFamilyHandle> handles = new EnumMap<>(StoreColumn.class);

    private ReadOnlyStore(RocksDB db, DBOptions dbOptions, ColumnFamilyOptions cfOptions, List<ColumnFamilyHandle> allHandles,
                          List<StoreColumn> columns, Path infoLogDir) {
        this.db = db;
        this.infoLogDir = infoLogDir;
        this.dbOptions = dbOptions;
        this.cfOptions = cfOptions;
        this.allHandles = allHandles;
        for (int i = 0; i < columns.size(); i++) {
            handles.put(columns.get(i), allHandles.get(i + 1));
        }
    }

    /** The WAL recovery mode the broker opens with: a torn last record is tolerated, other damage refuses. */
    public static ReadOnlyStore open(Path dir) throws RocksDBException {
        return open(dir, WALRecoveryMode.TolerateCorruptedTailRecords);
    }

    public static ReadOnlyStore open(Path dir, WALRecoveryMode walRecovery) throws RocksDBException {
        if (!Files.exists(dir.resolve("CURRENT"))) {
            throw new RocksDBException("no RocksDB store in " + dir.toAbsolutePath() + " (no CURRENT file)");
        }
        // RocksDB's info LOG goes to a temporary folder: even that file of the store stays untouched.
        Path infoLogDir;
        try {
            infoLogDir = Files.createTempDirectory("durablemq-readonly-log");
        } catch (IOException e) {
            throw new RocksDBException("cannot create a temporary folder for RocksDB's info log: " + e);
        }
        DBOptions dbOptions = new DBOptions().setParanoidChecks(true).setWalRecoveryMode(walRecovery)
                .setDbLogDir(infoLogDir.toString());
        ColumnFamilyOptions cfOptions = new ColumnFamilyOptions();
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, cfOptions));
        List<StoreColumn> columns = new ArrayList<>();
        List<ColumnFamilyHandle> allHandles = new ArrayList<>();
        try {
            // A store of an older format lacks the column families added since (read as empty);
            // any other missing column family still fails the open.
            java.util.Set<String> present = new java.util.HashSet<>();
            try (org.rocksdb.Options listOptions = new org.rocksdb.Options()) {
                for (byte[] name : RocksDB.listColumnFamilies(listOptions, dir.toString())) {
                    present.add(new String(name, java.nio.charset.StandardCharsets.UTF_8));
                }
            }
            for (StoreColumn c : StoreColumn.values()) {
                if (present.contains(c.cfName()) || !FormatUpgrade.ADDED_SINCE_1.contains(c.cfName())) {
                    columns.add(c);
                    descriptors.add(new ColumnFamilyDescriptor(c.cfNameBytes(), cfOptions));
                }
            }
            RocksDB db = RocksDB.openReadOnly(dbOptions, dir.toString(), descriptors, allHandles);
            return new ReadOnlyStore(db, dbOptions, cfOptions, allHandles, columns, infoLogDir);
        } catch (RocksDBException e) {
            dbOptions.close();
            cfOptions.close();
            deleteQuietly(infoLogDir);
            throw e;
        }
    }

    /** Null for a column family an older format's store does not have (nothing to read). */
    public RocksIterator iterator(StoreColumn column, ReadOptions options) {
        ColumnFamilyHandle h = handles.get(column);
        return h == null ? null : db.newIterator(h, options);
    }

    /** Whether a message body is stored (a point lookup); false also when it cannot be read. */
    public boolean containsBody(long messageId) {
        try {
            return db.get(handles.get(StoreColumn.MESSAGES), Keys.message(messageId)) != null;
        } catch (RocksDBException e) {
            return false;
        }
    }

    /** Reads every block of every live SST file and checks its checksum. */
    public void verifyChecksum() throws RocksDBException {
        db.verifyChecksum();
    }

    /**
     * The names of the blob files the store's MANIFEST lists ({@code 000045.blob}). The folder can
     * hold others: a compaction cut short by a close can leave its unfinished output there, which
     * RocksDB never reads, and that is not damage.
     */
    public java.util.Set<String> liveBlobFileNames() throws RocksDBException {
        java.util.Set<String> names = new java.util.HashSet<>();
        for (String f : db.getLiveFiles(false).files) {
            String name = f.startsWith("/") ? f.substring(1) : f;
            if (name.endsWith(".blob")) {
                names.add(name);
            }
        }
        return names;
    }

    public List<LiveFileMetaData> liveSstFiles() {
        return db.getLiveFilesMetaData();
    }

    /** The last sequence number the open recovered (from SST files and the replayed WAL). */
    public long latestSequence() {
        return db.getLatestSequenceNumber();
    }

    /** The store's format version, or -1 if the record is missing or malformed. */
    public int formatVersion() throws RocksDBException {
        byte[] v = db.get(handles.get(StoreColumn.META), StoreFormat.VERSION_KEY);
        return v == null || v.length != 4 ? -1 : ByteBuffer.wrap(v).getInt();
    }

    @Override
    public void close() {
        for (ColumnFamilyHandle h : allHandles) {
            h.close();
        }
        db.close();
        dbOptions.close();
        cfOptions.close();
        deleteQuietly(infoLogDir);
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // a leftover temporary log folder is harmless
        }
    }
}
