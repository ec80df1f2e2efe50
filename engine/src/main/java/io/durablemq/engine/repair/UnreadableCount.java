package io.durablemq.engine.repair;

import io.durablemq.engine.check.ReadError;
import io.durablemq.engine.check.StoreScan;
import io.durablemq.engine.store.StoreColumn;
import org.rocksdb.LiveFileMetaData;

import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * How many records the damaged blocks of a column family held: RocksDB's metadata counts the
 * entries of every SST file (deletions included, and counted separately too), the salvage scan
 * counts what it read. Live keys are estimated as entries minus twice the deletions: a
 * deletion is itself an entry, and it hides one older put. The difference is exact when the column family's data is all in SST files with no
 * overwritten or deleted keys (a flushed store whose records were each written once, as
 * queue entries, bodies and in-flight entries are); records still in the WAL make it an
 * undercount, which is why the report calls it an estimate.
 */
final class UnreadableCount {
    private UnreadableCount() {
    }

    static Map<StoreColumn, Long> estimate(List<LiveFileMetaData> files, StoreScan.Result read) {
        Map<StoreColumn, Long> inFiles = new EnumMap<>(StoreColumn.class);
        for (LiveFileMetaData f : files) {
            String cf = new String(f.columnFamilyName(), StandardCharsets.UTF_8);
            for (StoreColumn c : StoreColumn.values()) {
                if (c.cfName().equals(cf)) {
                    inFiles.merge(c, f.numEntries() - 2 * f.numDeletions(), Long::sum);
                }
            }
        }
        Map<StoreColumn, Long> unreadable = new EnumMap<>(StoreColumn.class);
        for (ReadError e : read.errors()) {
            long expected = inFiles.getOrDefault(e.column(), 0L);
            long got = read.records().getOrDefault(e.column(), 0L);
            unreadable.put(e.column(), Math.max(0, expected - got));
        }
        return unreadable;
    }
}
