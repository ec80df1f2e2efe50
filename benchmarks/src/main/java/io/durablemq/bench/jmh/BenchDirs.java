package io.durablemq.bench.jmh;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Scratch folders for stores and fsync files. All benchmarks use the same base folder
 * ({@code -Ddurablemq.bench.dir=...} or the environment variable {@code DURABLEMQ_BENCH_DIR},
 * which JMH's forks inherit; default the JVM's temp folder) so the raw fsync baseline and the
 * engine's commits measure the same disk.
 */
final class BenchDirs {

    static final String PROPERTY = "durablemq.bench.dir";
    static final String ENV = "DURABLEMQ_BENCH_DIR";

    private BenchDirs() {
    }

    static Path base() {
        String dir = System.getProperty(PROPERTY);
        if (dir == null || dir.isBlank()) {
            dir = System.getenv(ENV);
        }
        if (dir == null || dir.isBlank()) {
            dir = System.getProperty("java.io.tmpdir");
        }
        return Path.of(dir);
    }

    static Path create(String name) {
        try {
            Path base = base();
            Files.createDirectories(base);
            return Files.createTempDirectory(base, "durablemq-jmh-" + name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Bytes of every regular file under {@code dir} (a store: SST, blob, WAL and manifest files). */
    static long size(Path dir) {
        try (java.util.stream.Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> {
                try {
                    return Files.size(f);
                } catch (IOException e) {
                    return 0; // deleted by a compaction while walking
                }
            }).sum();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.delete(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
