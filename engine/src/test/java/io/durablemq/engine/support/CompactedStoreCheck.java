package io.durablemq.engine.support;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksIterator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes a SingleDelete's mistakes visible, on a closed (or killed) store. A key put twice and then
 * single-deleted reads as deleted while the tombstone and both puts are in the memtable or in
 * separate files; the older put comes back only when a flush or compaction drops the tombstone
 * with the newer put. So: flush every column family and compact each fully (RocksDB also fails a
 * compaction in which a SingleDelete meets a Delete of its key), then run {@code verify}'s checks:
 * a body that came back is referenced by no entry ({@code ORPHAN_BODY}), a queue entry that came
 * back breaks its session's stored counters ({@code QUEUE_COUNTERS}) or has no body
 * ({@code MISSING_BODY}).
 */
public final class CompactedStoreCheck {
    private CompactedStoreCheck() {
    }

    /** Flushes and fully compacts every column family, then fails unless {@code verify} passes. */
    public static VerifyReport assertNothingCameBack(Path dir) throws Exception {
        compactEverything(dir);
        VerifyReport report = StoreVerifier.verify(dir);
        if (!report.ok()) {
            throw new AssertionError("after a flush and a full compaction of " + dir + ": " + report.toText());
        }
        return report;
    }

    /** Flushes and fully compacts every column family with RocksDB directly (nothing may have the store open). */
    public static void compactEverything(Path dir) throws Exception {
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        try (Options o = new Options()) {
            for (byte[] name : RocksDB.listColumnFamilies(o, dir.toString())) {
                descriptors.add(new ColumnFamilyDescriptor(name));
            }
        }
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try (DBOptions options = new DBOptions(); RocksDB db = RocksDB.open(options, dir.toString(), descriptors, handles);
             FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            try {
                db.flush(flush, handles);
                for (ColumnFamilyHandle h : handles) {
                    db.compactRange(h); // fails on a SingleDelete that meets a Delete
                }
            } finally {
                handles.forEach(ColumnFamilyHandle::close);
            }
        }
    }

    /** The keys stored in {@code column}, counted by a full scan. */
    public static long keys(Path dir, StoreColumn column) throws Exception {
        try (Store store = Store.open(dir, Durability.FSYNC); RocksIterator it = store.iterator(column)) {
            long n = 0;
            for (it.seekToFirst(); it.isValid(); it.next()) {
                n++;
            }
            it.status();
            return n;
        }
    }
}
