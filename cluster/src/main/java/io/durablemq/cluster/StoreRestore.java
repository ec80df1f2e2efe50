package io.durablemq.cluster;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Makes the data folder hold exactly a snapshot's store: every file in it is deleted, then the
 * snapshot's SST and blob files are hard-linked in (they are immutable; copied when the snapshot is on
 * another file system) and its other files (CURRENT, MANIFEST, OPTIONS, WAL) copied, since RocksDB
 * rewrites those. A crash half-way leaves a folder that the next start restores again: a node
 * with a snapshot always rebuilds its store from it before Ratis replays the log after it.
 */
final class StoreRestore {
    private static final Logger log = LoggerFactory.getLogger(StoreRestore.class);

    private StoreRestore() {
    }

    static void restore(LocalSnapshot snapshot, Path dataDir) throws IOException {
        long t0 = System.nanoTime();
        Files.createDirectories(dataDir);
        try (Stream<Path> list = Files.list(dataDir)) {
            List<Path> present = list.toList();
            if (!present.isEmpty() && !Files.exists(dataDir.resolve("CURRENT"))) {
                throw new IOException("the data folder " + dataDir + " holds files but no RocksDB store (no CURRENT file);"
                        + " a snapshot is restored only into an empty folder or a store: point data_path elsewhere");
            }
            if (heldByAnotherProcess(dataDir)) {
                throw new IOException("the data folder " + dataDir + " is in use by another process (RocksDB's LOCK is held):"
                        + " it is not replaced by the snapshot while something else has it open");
            }
            for (Path p : present) {
                if (Files.isDirectory(p)) {
                    SnapshotStorage.deleteTree(p);
                } else {
                    Files.delete(p);
                }
            }
        }
        int linked = 0;
        for (SnapshotManifest.Entry e : snapshot.manifest().files()) {
            Path from = snapshot.folder().resolve(e.name());
            Path to = dataDir.resolve(e.name());
            // SST and blob files are immutable once written (RocksDB never appends to either), so a
            // hard link is safe; everything else (manifest, WAL, OPTIONS) is copied.
            if ((e.name().endsWith(".sst") || e.name().endsWith(".blob")) && link(from, to)) {
                linked++;
            } else {
                Files.copy(from, to);
                SnapshotManifest.fsync(to);
            }
        }
        SnapshotManifest.fsync(dataDir);
        log.info("store {} restored from raft snapshot {} (index {}, {} files, {} hard-linked, {} bytes) in {} ms", dataDir,
                snapshot.folder().getFileName(), snapshot.index(), snapshot.manifest().files().size(), linked,
                snapshot.manifest().totalBytes(), (System.nanoTime() - t0) / 1_000_000);
    }

    /**
     * RocksDB holds a POSIX lock on LOCK while a store is open; {@code tryLock} takes the same kind.
     * Called only when this process has no store open on the folder (at start, or after the slot
     * closed it), so closing the probe's channel drops no lock of ours.
     */
    private static boolean heldByAnotherProcess(Path dir) throws IOException {
        Path lock = dir.resolve("LOCK");
        if (!Files.exists(lock)) {
            return false;
        }
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lock, java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.channels.FileLock l = ch.tryLock();
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (java.nio.channels.OverlappingFileLockException e) {
            return true;
        }
    }

    private static boolean link(Path from, Path to) {
        try {
            Files.createLink(to, from);
            return true;
        } catch (UnsupportedOperationException | FileSystemException e) {
            return false; // another file system: copy instead
        } catch (IOException e) {
            return false;
        }
    }
}
