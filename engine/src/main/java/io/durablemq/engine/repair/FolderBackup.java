package io.durablemq.engine.repair;

import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;

/** The whole data folder copied next to itself before repair changes anything. */
final class FolderBackup {
    private FolderBackup() {
    }

    static long sizeOf(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            long sum = 0;
            for (Path p : files.filter(Files::isRegularFile).toList()) {
                sum += Files.size(p);
            }
            return sum;
        }
    }

    /**
     * Refuses (with the figures) unless the disk holding {@code dir} has room for the backup
     * and the repaired store, each at most the folder's size, plus 64 MiB.
     */
    static void requireSpace(Path dir) throws IOException, RepairRefusedException {
        long size = sizeOf(dir);
        FileStore fs = Files.getFileStore(dir.toAbsolutePath().getParent());
        long needed = 2 * size + 64L * 1024 * 1024;
        long free = fs.getUsableSpace();
        if (fs.getTotalSpace() == 0) {
            // a file system that reports no size at all (some FUSE file systems, e.g. LazyFS, answer
            // statfs with zeros): the check cannot be made; a full disk then fails the backup copy,
            // before anything in the store is changed
            LoggerFactory.getLogger(FolderBackup.class).warn("the file system of {} reports no size: cannot check"
                    + " that {} bytes are free for the backup and the repaired store", dir.toAbsolutePath(), needed);
            return;
        }
        if (free < needed) {
            throw new RepairRefusedException(String.format(
                    "not enough disk next to %s: the backup and the repaired store need %,d bytes, %,d are free",
                    dir.toAbsolutePath(), needed, free));
        }
    }

    /** Copies {@code dir} (recursively) to {@code target}, which must not exist. */
    static void copy(Path dir, Path target) throws IOException {
        List<Path> all;
        try (Stream<Path> files = Files.walk(dir)) {
            all = files.toList();
        }
        for (Path p : all) {
            Path to = target.resolve(dir.relativize(p).toString());
            if (Files.isDirectory(p)) {
                Files.createDirectories(to);
            } else {
                Files.copy(p, to, StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
    }

    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        List<Path> all;
        try (Stream<Path> files = Files.walk(dir)) {
            all = files.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList();
        }
        for (Path p : all) {
            Files.deleteIfExists(p);
        }
    }
}
