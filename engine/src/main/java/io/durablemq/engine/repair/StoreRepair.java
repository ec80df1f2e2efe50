package io.durablemq.engine.repair;

import io.durablemq.engine.check.BlobDamage;
import io.durablemq.engine.check.Inventory;
import io.durablemq.engine.check.ReadError;
import io.durablemq.engine.check.StoreRecordVisitor;
import io.durablemq.engine.check.StoreScan;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.ReadOnlyStore;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.durablemq.engine.store.WalDamage;
import org.rocksdb.RocksDBException;
import org.rocksdb.WALRecoveryMode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * {@code durablemq repair}: recovers what can be read from a damaged store, explicitly and
 * never silently.
 * <ol>
 *   <li>Refuses if another process (a broker) holds the store's lock, or if the disk has no
 *       room for a backup and a new store.</li>
 *   <li>Copies the whole folder to {@code DIR.bak-<timestamp>} next to it.</li>
 *   <li>Opens the original read-only with point-in-time WAL recovery (reading stops at the
 *       first bad WAL record: a torn or garbled tail is cut off) and scans every column family,
 *       skipping damaged SST blocks ({@link StoreScan.OnError#SKIP_DAMAGED_RANGE}). RocksDB's
 *       own RepairDB is not in its Java API, and it would give up a whole SST file for one bad
 *       block; this salvage loses only the damaged blocks.</li>
 *   <li>Copies what it read into a new store, dropping what would break an invariant
 *       ({@link SalvagePlan}), verifies the new store, and only then replaces the folder's
 *       contents with it.</li>
 *   <li>For a damaged WAL (refused by RocksDB's open, or by the broker's WAL check before it:
 *       valid writes after damage that RocksDB would skip silently), says where the damage is and whether it was confined to the tail of the
 *       newest WAL file ({@link WalTailCheck}: DurableMQ's own scan of the WAL framing and what
 *       point-in-time recovery reached must agree); only then, in fsync mode, that nothing
 *       acknowledged was lost.</li>
 *   <li>Reports what was lost (before/after per client id, damaged ranges, dropped records) and
 *       writes the report to {@code DIR/repair-report-<timestamp>.txt}.</li>
 * </ol>
 */
public final class StoreRepair {
    private static final Logger log = LoggerFactory.getLogger(StoreRepair.class);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS");

    private StoreRepair() {
    }

    /** @param durability the mode the broker ran in, if the operator says; only changes the report's wording */
    public static RepairReport repair(Path dataDir, Durability durability) throws RepairRefusedException, IOException {
        Path dir = dataDir.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir) || !Files.exists(dir.resolve("CURRENT"))) {
            throw new RepairRefusedException(dir + " is not a DurableMQ store (no CURRENT file); nothing was changed");
        }
        if (StoreLockProbe.heldByAnotherProcess(dir)) {
            throw new RepairRefusedException("a process holds the store's lock (" + dir.resolve("LOCK")
                    + "): a broker is running on it; stop it first. Nothing was changed");
        }
        FolderBackup.requireSpace(dir);
        String stamp = ZonedDateTime.now(ZoneOffset.UTC).format(STAMP);
        Path backup = dir.resolveSibling(dir.getFileName() + ".bak-" + stamp);
        log.warn("repair of {}: copying the folder to {} first", dir, backup);
        FolderBackup.copy(dir, backup);
        log.warn("repair of {}: backup complete in {}", dir, backup);

        String walDamage = null;
        try (ReadOnlyStore strict = ReadOnlyStore.open(dir)) {
            strict.formatVersion();
        } catch (RocksDBException e) {
            walDamage = String.valueOf(e.getMessage());
        }
        // read before anything changes: the first damaged WAL record and what follows it
        WalDamage walScan = WalDamage.find(dir).orElse(null);
        if (walDamage == null && walScan != null && walScan.tail() == WalDamage.Tail.NOT_CONFINED) {
            // RocksDB opened without an error (it reads a zeroed header as padding and skips the rest of
            // its block), but the broker's WAL check refuses it: synced writes were skipped
            walDamage = "RocksDB's open raised no error, but DurableMQ's WAL check before the open refused it: valid"
                    + " writes follow a damaged region that RocksDB skips silently";
        }
        WalTailCheck walTail = null;
        Inventory before = new Inventory();
        SalvagePlan plan = new SalvagePlan();
        Path fresh = dir.resolveSibling(dir.getFileName() + ".repairing-" + stamp);
        StoreScan.Result read;
        List<ReadError> readErrors;
        Map<StoreColumn, Long> unreadableCounts;
        try (ReadOnlyStore source = ReadOnlyStore.open(dir, WALRecoveryMode.PointInTimeRecovery)) {
            StoreScan scan = new StoreScan(source::iterator, StoreScan.OnError.SKIP_DAMAGED_RANGE, true);
            if (walDamage != null) {
                walTail = WalTailCheck.of(walScan, source.latestSequence());
            }
            read = scan.run(StoreRecordVisitor.all(before, plan));
            readErrors = BlobDamage.attribute(dir, read.errors()); // names a damaged blob file (RocksDB does not)
            unreadableCounts = UnreadableCount.estimate(source.liveSstFiles(), read);
            plan.plan();
            try (Store target = Store.open(fresh, Durability.FSYNC); SalvageWriter writer = new SalvageWriter(target, plan)) {
                scan.run(writer);
                writer.finish();
                writer.flush();
                // Counts of what was kept (the damaged store's records are not copied: they may count dropped entries).
                io.durablemq.engine.delivery.RefCountRebuild.rewrite(target);
            }
        } catch (RocksDBException | StoreOpenException e) {
            FolderBackup.deleteRecursively(fresh);
            throw new RepairRefusedException("cannot read the store even with point-in-time WAL recovery: "
                    + e.getMessage() + "; nothing was changed (backup: " + backup + ")");
        }
        VerifyReport check = StoreVerifier.verify(fresh);
        if (!check.ok()) {
            FolderBackup.deleteRecursively(fresh);
            throw new IllegalStateException("the repaired copy does not verify (a bug in repair); the store was left as it was: "
                    + String.join("; ", check.problems()));
        }
        log.warn("repair of {}: replacing the folder's contents with the repaired store (backup: {})", dir, backup);
        replaceContents(dir, fresh);
        Path reportFile = dir.resolve("repair-report-" + stamp + ".txt");
        RepairReport report = new RepairReport(dir, backup, reportFile, walDamage, walTail,
                readErrors, unreadableCounts,
                before, check.inventory(), plan.dropped(), durability);
        Files.writeString(reportFile, report.toText());
        return report;
    }

    /** The backup holds the original: empty the folder (keeping earlier repair reports) and move the new store in. */
    private static void replaceContents(Path dir, Path fresh) throws IOException {
        List<Path> old;
        try (Stream<Path> s = Files.list(dir)) {
            old = s.filter(p -> !p.getFileName().toString().startsWith("repair-report-")).toList();
        }
        for (Path p : old) {
            FolderBackup.deleteRecursively(p);
        }
        List<Path> made;
        try (Stream<Path> s = Files.list(fresh)) {
            made = s.toList();
        }
        for (Path p : made) {
            Files.move(p, dir.resolve(p.getFileName().toString()), StandardCopyOption.ATOMIC_MOVE);
        }
        Files.delete(fresh);
    }
}
