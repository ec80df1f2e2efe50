package io.durablemq.engine.store;

import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompactionPriority;
import org.rocksdb.Options;
import org.rocksdb.TablePropertiesCollectorFactory;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * RocksDB options per column family. Options only: keys, values and file layout stay the same,
 * so a store written with one profile opens with any other ({@code ColumnOptionsTest}), and
 * going back needs nothing either.
 *
 * <p>Most of the store is short-lived keys: a queue entry, an in-flight record, a QoS 2 receive
 * record and (once every queue let go of it) a body are each written and deleted within
 * seconds while subscribers keep up. What that needs:
 * <ul>
 *   <li><b>Large write buffers, not small ones</b> (32 MiB, as before): a put and its delete that
 *       meet in the memtable leave only the tombstone at flush (with SingleDelete, nothing);
 *       a smaller buffer flushes more puts that are still live and more tombstones to L0.</li>
 *   <li><b>Tombstone-dense files compacted early</b>: {@code CompactOnDeletionCollector} marks an
 *       SST file for compaction when a sliding window of its entries is mostly deletions, so a
 *       run of acknowledged messages does not sit as tombstones that every scan (recovery,
 *       verify, the next queue read) steps over.</li>
 *   <li><b>A TTL on those files</b> (6 h): level compaction pushes files older than that down, so
 *       tombstones reach the bottom level, where they are dropped, even when no new writes
 *       trigger compaction (a quiet broker after a burst).</li>
 *   <li><b>A Bloom filter on bodies</b> ({@code messages}: read by id with {@code get} when a body
 *       is not cached): a get skips the L0 files that cannot hold the id.</li>
 * </ul>
 * Not used: {@code optimizeForPointLookup} (a hash index and no ordered iteration guarantees
 * for the whole CF; recovery and verify scan {@code messages} in key order); prefix extractors
 * (no prefix seeks: queues are read by scanning a session's range once at recovery).
 *
 * <p><b>Large bodies in blob files</b> ({@link Profile#TUNED_BLOBS}, the default): a body of
 * {@value #MIN_BLOB_BYTES} bytes or more is written at flush into a {@code .blob} file and the SST
 * keeps a reference of about 30 bytes, so compaction (which rewrites every live value it meets,
 * once per level) moves the reference, not the body. Why these settings:
 * <ul>
 *   <li>Threshold 4 KiB: RocksDB's data block is 4 KiB, so a smaller body shares a block with
 *       others and costs compaction little, while a blob costs an extra file read on a cache miss
 *       and a reference of about 30 bytes; at 4 KiB a body fills a block by itself and is what
 *       compaction rewrites at full price. The typical MQTT message (256 B in every benchmark
 *       here) stays in the SST files exactly as before.</li>
 *   <li>64 MiB blob files: the size of a 32 MiB write buffer's flush worth of large bodies, twice;
 *       fewer, larger files mean fewer open files and a smaller manifest.</li>
 *   <li>Blob garbage collection on, age cutoff 0.25: bodies are deleted within seconds, so old
 *       blob files are mostly garbage; compaction relocates the few live bodies out of the oldest
 *       quarter of blob files, and a blob file with no live body left is deleted.</li>
 *   <li>No blob compression: RocksDB's default (none) kept. Payloads are device data, often
 *       already compressed or binary; compressing bodies that live seconds spends CPU on the
 *       commit path's flushes for little.</li>
 * </ul>
 * Everything that reads the store raw reads blob files through RocksDB (bodies read by value),
 * and a damaged blob file, which RocksDB's {@code verifyChecksum} does not read and whose read
 * errors name no file, is found and named by {@code store.BlobFileScan} (verify, repair, and the
 * refusal at open).
 */
public final class ColumnOptions implements AutoCloseable {
    /** Selects the profile for benchmarks and comparisons; operators need not set it. */
    public static final String PROFILE_PROPERTY = "durablemq.store.columnOptions";

    static final long WRITE_BUFFER_BYTES = 32L * 1024 * 1024;
    /** Deletions in a window of this many consecutive entries ... */
    static final long DELETION_WINDOW = 128;
    /** ... that mark the SST file for compaction. */
    static final long DELETION_TRIGGER = 64;
    static final long SHORT_LIVED_TTL_SECONDS = 6 * 3600;
    /** Bodies at least this large go to blob files in {@link Profile#TUNED_BLOBS}. */
    static final long MIN_BLOB_BYTES = 4 * 1024;
    static final long BLOB_FILE_BYTES = 64L * 1024 * 1024;
    static final double BLOB_GC_AGE_CUTOFF = 0.25;

    public enum Profile {
        /** The options every store had before issue 12: 32 MiB write buffers, RocksDB's defaults otherwise. */
        GENERIC,
        /** Per record kind, as described on the class, bodies all in SST files (the default before blob files). */
        TUNED,
        /** TUNED plus BlobDB for {@code messages} bodies of 4 KiB and more (with blob GC). The default. */
        TUNED_BLOBS;

        /** The profile named by the system property {@value #PROFILE_PROPERTY}, TUNED_BLOBS when unset. */
        public static Profile configured() {
            String name = System.getProperty(PROFILE_PROPERTY);
            if (name == null || name.isBlank()) {
                return TUNED_BLOBS;
            }
            try {
                return valueOf(name.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("system property " + PROFILE_PROPERTY + "='" + name
                        + "' is not one of generic, tuned, tuned_blobs", e);
            }
        }
    }

    private final Profile profile;
    private final ColumnFamilyOptions defaultColumn;
    private final Map<StoreColumn, ColumnFamilyOptions> columns = new EnumMap<>(StoreColumn.class);
    /** Native objects the options point to; freed with them. */
    private final List<AutoCloseable> owned = new ArrayList<>();

    private ColumnOptions(Profile profile) {
        this.profile = profile;
        this.defaultColumn = generic();
        for (StoreColumn c : StoreColumn.values()) {
            columns.put(c, profile == Profile.GENERIC ? generic() : tuned(c));
        }
    }

    public static ColumnOptions create(Profile profile) {
        return new ColumnOptions(profile);
    }

    public Profile profile() {
        return profile;
    }

    public ColumnFamilyOptions forDefaultColumn() {
        return defaultColumn;
    }

    public ColumnFamilyOptions forColumn(StoreColumn column) {
        return columns.get(column);
    }

    /** Record kinds whose keys are deleted soon after they are written. */
    static boolean shortLived(StoreColumn c) {
        return switch (c) {
            case MESSAGES, QUEUES, INFLIGHT, QOS2_RECEIVED -> true;
            // meta, sessions, subscriptions, retained, and any column added later until measured
            default -> false;
        };
    }

    private ColumnFamilyOptions generic() {
        return own(new ColumnFamilyOptions().setWriteBufferSize(WRITE_BUFFER_BYTES));
    }

    private ColumnFamilyOptions tuned(StoreColumn c) {
        if (!shortLived(c)) {
            return generic(); // small, long-lived and rarely written: the defaults serve them
        }
        ColumnFamilyOptions o;
        // The Java API sets collector factories on Options only; ColumnFamilyOptions copies them.
        TablePropertiesCollectorFactory collector = own(TablePropertiesCollectorFactory
                .NewCompactOnDeletionCollectorFactory(DELETION_WINDOW, DELETION_TRIGGER, 0.5));
        try (Options withCollector = new Options()) {
            withCollector.setTablePropertiesCollectorFactory(List.of(collector));
            o = own(new ColumnFamilyOptions(withCollector));
        }
        o.setWriteBufferSize(WRITE_BUFFER_BYTES)
                .setCompactionPriority(CompactionPriority.MinOverlappingRatio)
                .setLevelCompactionDynamicLevelBytes(true)
                .setTtl(SHORT_LIVED_TTL_SECONDS);
        if (c == StoreColumn.MESSAGES) {
            BloomFilter bloom = own(new BloomFilter(10));
            o.setTableFormatConfig(new BlockBasedTableConfig().setFilterPolicy(bloom).setWholeKeyFiltering(true));
            if (profile == Profile.TUNED_BLOBS) {
                o.setEnableBlobFiles(true)
                        .setMinBlobSize(MIN_BLOB_BYTES)
                        .setBlobFileSize(BLOB_FILE_BYTES)
                        .setEnableBlobGarbageCollection(true)
                        .setBlobGarbageCollectionAgeCutoff(BLOB_GC_AGE_CUTOFF);
            }
        }
        return o;
    }

    private <T extends AutoCloseable> T own(T object) {
        owned.add(object);
        return object;
    }

    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception ignored) {
                // native frees do not fail
            }
        }
    }
}
