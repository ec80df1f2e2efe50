package io.durablemq.engine.repair;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Whether another process holds the store: RocksDB keeps a POSIX record lock on the folder's
 * LOCK file while a store is open, and Java's {@code tryLock} takes the same kind of lock, so
 * it fails while a broker runs on the folder. POSIX locks belong to a process: a store open in
 * this very JVM is not seen, and closing the probe's channel would even drop that store's
 * lock, so this is for the repair command, which runs in its own process, never inside a broker.
 */
final class StoreLockProbe {
    private StoreLockProbe() {
    }

    static boolean heldByAnotherProcess(Path dir) throws IOException {
        Path lock = dir.resolve("LOCK");
        if (!Files.exists(lock)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(lock, StandardOpenOption.WRITE)) {
            FileLock l = ch.tryLock();
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        }
    }
}
