package io.durablemq.engine.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The store's own bookkeeping files stay bounded however long the broker runs: RocksDB's info
 * LOG is rolled by size (its default rolls only when the store is opened again, so a broker that
 * runs for months grows one LOG file without end: 18 MB an hour in the one-hour soak) and the
 * MANIFEST is rewritten well before RocksDB's default of 1 GiB. Read from the OPTIONS file RocksDB
 * writes at open, which is what the running database uses.
 */
class StoreLogBoundsTest {
    @TempDir
    Path dir;

    @Test
    void infoLogIsRolledBySizeAndTheManifestIsBounded() throws Exception {
        try (Store ignored = Store.open(dir, Durability.FSYNC)) {
            List<String> options = newestOptionsFile();
            assertOption(options, "max_log_file_size", Store.INFO_LOG_FILE_BYTES);
            assertOption(options, "keep_log_file_num", Store.INFO_LOG_FILES_KEPT);
            assertOption(options, "max_manifest_file_size", Store.MANIFEST_FILE_BYTES);
        }
        assertTrue(Store.INFO_LOG_FILE_BYTES > 0 && Store.INFO_LOG_FILE_BYTES * Store.INFO_LOG_FILES_KEPT <= 128L << 20,
                "the info logs are bounded to at most 128 MiB in all");
    }

    private List<String> newestOptionsFile() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            Path newest = files.filter(p -> p.getFileName().toString().startsWith("OPTIONS-"))
                    .max(Comparator.comparing(p -> p.getFileName().toString()))
                    .orElseThrow(() -> new AssertionError("RocksDB wrote no OPTIONS file in " + dir));
            return Files.readAllLines(newest);
        }
    }

    private static void assertOption(List<String> lines, String key, long expected) {
        String wanted = key + "=" + expected;
        assertTrue(lines.stream().map(String::strip).anyMatch(wanted::equals),
                "expected " + wanted + " in RocksDB's OPTIONS file; it has "
                        + lines.stream().map(String::strip).filter(l -> l.startsWith(key + "=")).toList());
    }
}
