package io.durablemq.engine.store;

import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Set;

/**
 * Brings a store of an older format to {@link StoreFormat#CURRENT} when it is opened.
 * Format 1 to 2 adds the {@code wills} column family and changes no existing record: the open
 * creates the missing column family ({@link #missingColumnsAreAddedOnes}), then
 * {@link #upgrade} writes the new version, synced. A crash between the two leaves the column
 * family with the old version, which the next open upgrades the same way.
 */
final class FormatUpgrade {
    private static final Logger log = LoggerFactory.getLogger(FormatUpgrade.class);

    /** Column families that formats after 1 added; a format-1 store lacks them. */
    static final Set<String> ADDED_SINCE_1 = Set.of(StoreColumn.WILLS.cfName());

    private FormatUpgrade() {
    }

    /** True when every missing column family is one a newer format added (so the open may create them). */
    static boolean missingColumnsAreAddedOnes(Collection<String> missing) {
        return !missing.isEmpty() && ADDED_SINCE_1.containsAll(missing);
    }

    /** Writes the current format version over {@code from}; the open has created the column families. */
    static void upgrade(RocksDB db, ColumnFamilyHandle meta, Path dir, int from) throws RocksDBException {
        try (WriteBatch batch = new WriteBatch(); WriteOptions sync = new WriteOptions().setSync(true)) {
            batch.put(meta, StoreFormat.VERSION_KEY, ByteBuffer.allocate(4).putInt(StoreFormat.CURRENT).array());
            db.write(sync, batch);
        }
        log.info("upgraded the store in {} from format {} to format {} (added column family {})",
                dir.toAbsolutePath(), from, StoreFormat.CURRENT, ADDED_SINCE_1);
    }
}
