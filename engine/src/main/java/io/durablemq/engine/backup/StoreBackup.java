package io.durablemq.engine.backup;

import io.durablemq.engine.store.Store;
import org.rocksdb.RocksDBException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Online backup of the engine's store as a RocksDB checkpoint: a new folder holding a complete,
 * openable store. RocksDB flushes the memtables, hard-links the immutable SST files (copies
 * them when the target is on another file system) and copies the manifest and the live part of
 * the WAL, so the copy holds every write that returned before the checkpoint began. Writes go
 * on meanwhile; none is blocked for longer than the flush.
 *
 * <p>The engine's part ({@code Engine.backup}) is to make "before" mean "before the request":
 * it appends a barrier to the committer and waits until it is durable, then checkpoints. See
 * {@link #awaitDurable}.
 */
public final class StoreBackup {
    private static final Logger log = LoggerFactory.getLogger(StoreBackup.class);
    /** A commit takes milliseconds; a barrier still pending after this means the store is stuck. */
    private static final long BARRIER_TIMEOUT_SECONDS = 60;

    private StoreBackup() {
    }

    /** Refuses a target that exists or lies inside the live data folder (or contains it). */
    public static void checkTarget(Path dataDir, Path target) throws BackupException {
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new BackupException(BackupException.Reason.TARGET_EXISTS, target,
                    "it already exists; a backup never overwrites anything, choose a new name", null);
        }
        Path data = canonical(dataDir);
        Path t = canonical(target);
        if (t.startsWith(data) || data.startsWith(t)) {
            throw new BackupException(BackupException.Reason.TARGET_INSIDE_STORE, target,
                    "it is inside the data folder " + data + "; put backups next to it (e.g. " + data + "-backups)", null);
        }
    }

    /**
     * Waits until the barrier the engine appended at the request is durable. Acknowledgements
     * are sent from commit completions, which run only after {@code Store.write} returned, so
     * every message acknowledged before the request was in RocksDB already; the barrier makes
     * the stronger promise that everything the engine <em>accepted</em> before the request
     * (acknowledged or not yet) is in RocksDB before the checkpoint starts.
     */
    public static void awaitDurable(CompletableFuture<?> barrier, Path target) throws BackupException {
        try {
            barrier.get(BARRIER_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new BackupException(BackupException.Reason.UNAVAILABLE, target,
                    "the store cannot commit: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new BackupException(BackupException.Reason.UNAVAILABLE, target,
                    "the pending commit did not finish within " + BARRIER_TIMEOUT_SECONDS + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BackupException(BackupException.Reason.UNAVAILABLE, target, "interrupted", e);
        }
    }

    /**
     * Writes the checkpoint of {@code store} into {@code target} (its parent folders are
     * created) and measures it. The caller keeps the store open meanwhile.
     */
    public static BackupResult write(Store store, Path target, Instant startedAt, long startNanos,
                                     long messageIdsBelow) throws BackupException {
        checkTarget(store.dir(), target); // again: the target may have appeared while the barrier committed
        try {
            Path parent = target.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            store.checkpoint(target);
        } catch (IOException | RocksDBException e) {
            throw new BackupException(BackupException.Reason.IO_ERROR, target, e.getMessage(), e);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - startNanos);
        Size size = measure(target);
        BackupResult result = new BackupResult(target.toAbsolutePath(), startedAt, took, size.files, size.bytes,
                size.sharedBytes, messageIdsBelow);
        log.info("backup written to {}: {} files, {} bytes ({} hard-linked with the store) in {} ms",
                result.path(), result.files(), result.bytes(), result.sharedBytes(), took.toMillis());
        return result;
    }

    private record Size(int files, long bytes, long sharedBytes) {
    }

    private static Size measure(Path dir) throws BackupException {
        int files = 0;
        long bytes = 0;
        long shared = 0;
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) all.filter(Files::isRegularFile)::iterator) {
                long size = Files.size(p);
                files++;
                bytes += size;
                if (linkCount(p) > 1) {
                    shared += size;
                }
            }
        } catch (IOException e) {
            throw new BackupException(BackupException.Reason.IO_ERROR, dir,
                    "the copy was written but cannot be read back: " + e, e);
        }
        return new Size(files, bytes, shared);
    }

    private static int linkCount(Path p) {
        try {
            return (Integer) Files.getAttribute(p, "unix:nlink");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return 1; // no link count on this file system: report nothing as shared
        }
    }

    /** The real path of the longest existing prefix, with the rest appended: symlinks cannot hide nesting. */
    private static Path canonical(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return abs;
        }
        try {
            return existing.toRealPath().resolve(existing.relativize(abs));
        } catch (IOException e) {
            return abs;
        }
    }
}
