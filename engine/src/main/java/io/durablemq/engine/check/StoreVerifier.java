package io.durablemq.engine.check;

import io.durablemq.engine.store.ReadOnlyStore;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import io.durablemq.engine.store.WalDamage;
import org.rocksdb.RocksDBException;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@code durablemq verify}: checks a store offline without changing it. Opens it read-only
 * (no lock, nothing written; a WAL is replayed into memory with the broker's own recovery
 * mode), checks the format version, verifies the checksum of every block of every SST file,
 * scans every column family to its end with the iterator status checked, reads the WAL files'
 * framing for damage the broker's open refuses ({@link WalDamage}, not confined to the last write:
 * RocksDB may skip it without an error), and checks the
 * invariants ({@link InvariantCheck}), decoding every record including bodies.
 */
public final class StoreVerifier {
    private StoreVerifier() {
    }

    public static VerifyReport verify(Path dir) {
        long t0 = System.nanoTime();
        String walDamage;
        try {
            walDamage = WalDamage.find(dir).filter(d -> d.tail() == WalDamage.Tail.NOT_CONFINED)
                    .map(d -> "the broker's open refuses it: " + d.where() + "; valid writes follow the damaged region,"
                            + " so RocksDB's open would skip synced (acknowledged) writes").orElse(null);
        } catch (IOException e) {
            walDamage = "the WAL files cannot be read: " + e;
        }
        ReadOnlyStore store;
        try {
            store = ReadOnlyStore.open(dir);
        } catch (RocksDBException e) {
            return new VerifyReport(dir, String.valueOf(e.getMessage()), walDamage, -1, StoreFormat.CURRENT, null, List.of(),
                    Map.of(), new Inventory(), new Violations(), Duration.ofNanos(System.nanoTime() - t0));
        }
        try (store) {
            int format;
            try {
                format = store.formatVersion();
            } catch (RocksDBException e) {
                format = -1;
            }
            String checksumError = null;
            try {
                store.verifyChecksum();
            } catch (RocksDBException e) {
                checksumError = String.valueOf(e.getMessage());
            }
            // verifyChecksum reads SST files only; blob files are checked by their own framing.
            List<String> blobDamage;
            try {
                blobDamage = BlobDamage.problems(dir, store.liveBlobFileNames());
            } catch (RocksDBException e) {
                blobDamage = List.of("the store's list of live blob files cannot be read: " + e.getMessage());
            }
            if (!blobDamage.isEmpty()) {
                checksumError = (checksumError == null ? "" : checksumError + "; ") + String.join("; ", blobDamage);
            }
            InvariantCheck check = new InvariantCheck();
            Inventory inventory = new Inventory();
            StoreScan.Result scan = new StoreScan(store::iterator, StoreScan.OnError.STOP_COLUMN, true)
                    .run(StoreRecordVisitor.all(check, inventory));
            // Invariants checked on a partial view would report the unread part as orphans or
            // missing bodies: only the read errors are reported then.
            Violations violations = scan.errors().isEmpty() ? check.finish(id -> store.containsBody(id)) : new Violations();
            Map<StoreColumn, Long> records = scan.records();
            return new VerifyReport(dir, null, walDamage, format, StoreFormat.CURRENT, checksumError,
                    BlobDamage.attribute(dir, scan.errors()), records,
                    inventory, violations, Duration.ofNanos(System.nanoTime() - t0));
        }
    }
}
