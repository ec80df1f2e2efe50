package io.durablemq.engine.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.function.ToLongFunction;

/**
 * RocksDB's own figures, summed over the column families, as gauges: what an operator needs
 * to see a write stall or a compaction backlog coming.
 */
public final class StoreMetrics {
    private StoreMetrics() {
    }

    /** @param property reads a RocksDB integer property summed over column families; -1 when unavailable */
    public static void register(MeterRegistry registry, ToLongFunction<String> property) {
        gauge(registry, property, "durablemq.rocksdb.memtables", "bytes", "rocksdb.cur-size-all-mem-tables",
                "Bytes in RocksDB memtables");
        gauge(registry, property, "durablemq.rocksdb.live.sst", "bytes", "rocksdb.live-sst-files-size",
                "Bytes of live SST files");
        gauge(registry, property, "durablemq.rocksdb.pending.compaction", "bytes",
                "rocksdb.estimate-pending-compaction-bytes", "Estimated bytes compaction still has to rewrite");
        gauge(registry, property, "durablemq.rocksdb.running.compactions", null, "rocksdb.num-running-compactions",
                "Compactions running now");
        gauge(registry, property, "durablemq.rocksdb.estimated.keys", null, "rocksdb.estimate-num-keys",
                "Estimated number of keys");
        // For the soak (benchmarks/soak): what would grow if deletes piled up or blob GC fell behind.
        gauge(registry, property, "durablemq.rocksdb.live.blob", "bytes", "rocksdb.live-blob-file-size",
                "Bytes of live blob files (bodies of 4 KiB and more)");
        gauge(registry, property, "durablemq.rocksdb.blob.garbage", "bytes", "rocksdb.live-blob-file-garbage-size",
                "Bytes in live blob files that belong to deleted bodies (reclaimed by blob garbage collection)");
        gauge(registry, property, "durablemq.rocksdb.level0.files", null, "rocksdb.num-files-at-level0",
                "SST files in level 0 (a rising count means compaction falls behind)");
        gauge(registry, property, "durablemq.rocksdb.memtable.deletes", null, "rocksdb.num-deletes-active-mem-table",
                "Deletes (tombstones) in the active memtables");
    }

    private static void gauge(MeterRegistry registry, ToLongFunction<String> property, String name, String unit,
                              String rocksProperty, String description) {
        Gauge.Builder<ToLongFunction<String>> b = Gauge.builder(name, property, p -> {
            long v = p.applyAsLong(rocksProperty);
            return v < 0 ? Double.NaN : v;
        }).description(description).strongReference(true);
        if (unit != null) {
            b.baseUnit(unit);
        }
        b.register(registry);
    }
}
