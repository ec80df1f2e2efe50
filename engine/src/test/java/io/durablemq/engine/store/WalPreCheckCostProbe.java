package io.durablemq.engine.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Measures (prints, asserts no time) what the WAL check before every open costs on a WAL of about
 * 64 MB and about 256 MB (the store's max total WAL size). Run on demand:
 * {@code mvn -B -o -pl engine test -Dtest=WalPreCheckCostProbe -Dwalcheck.measure=true}.
 * The page cache is warm (the WAL was just written): a cold read adds the disk's sequential read time.
 */
@EnabledIfSystemProperty(named = "walcheck.measure", matches = "true")
@Timeout(600)
class WalPreCheckCostProbe {
    @TempDir
    Path dir;

    @Test
    void walCheckCost() throws Exception {
        for (int mb : new int[] {64, 240}) {
            Path data = dir.resolve("wal-" + mb);
            try (Store store = Store.open(data, Durability.OS)) {
                Random random = new Random(mb);
                byte[] value = new byte[16 * 1024];
                StoreColumn[] columns = StoreColumn.values();
                long written = 0;
                for (long i = 0; written < mb * 1024L * 1024; i++) {
                    random.nextBytes(value);
                    try (WriteBatch b = new WriteBatch()) {
                        // spread over the column families so no single memtable fills (which would switch the WAL)
                        b.put(store.handle(columns[(int) (i % columns.length)]), ("probe-" + i).getBytes(), value);
                        store.write(b);
                    }
                    written += value.length;
                }
            }
            long walBytes;
            long files;
            try (Stream<Path> s = Files.list(data)) {
                var wals = s.filter(p -> p.toString().endsWith(".log")).toList();
                files = wals.size();
                walBytes = 0;
                for (Path w : wals) {
                    walBytes += Files.size(w);
                }
            }
            for (int run = 0; run < 3; run++) {
                long t0 = System.nanoTime();
                assertTrue(WalDamage.find(data).isEmpty(), "an intact WAL");
                long t1 = System.nanoTime();
                System.out.printf("WALCHECK %d WAL file(s), %.1f MB: scan %.0f ms (run %d)%n", files, walBytes / 1e6,
                        (t1 - t0) / 1e6, run);
            }
            long t0 = System.nanoTime();
            try (Store store = Store.open(data, Durability.OS)) {
                System.out.printf("WALCHECK Store.open with the check and RocksDB's WAL replay: %.0f ms%n",
                        (System.nanoTime() - t0) / 1e6);
            }
        }
    }
}
