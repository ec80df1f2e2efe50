package io.durablemq.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * The list of files of one snapshot (a RocksDB checkpoint) with each file's size and CRC32C,
 * written last into the snapshot's folder. It is what makes a snapshot checkable: a node restores
 * its store from a snapshot only after every listed file is present with its size and checksum
 * ({@link #verify}), so a snapshot with a missing, cut or altered file is refused, never half used.
 *
 * <p>Checksums are reused from the previous snapshot for a file that is the very same file (the
 * same hard link of an immutable SST), so a snapshot reads only what changed since the last one.
 */
record SnapshotManifest(long term, long index, List<Entry> files) {
    static final String FILE_NAME = "SNAPSHOT-MANIFEST";
    private static final String HEADER = "durablemq-raft-snapshot 1";

    /** One file of the checkpoint. */
    record Entry(String name, long size, long crc32c) {
    }

    SnapshotManifest {
        files = List.copyOf(files);
    }

    /**
     * Lists and checksums every file of the checkpoint in {@code folder} and writes the manifest
     * there (fsynced). {@code previous} (may be null) lends checksums of files shared with it.
     */
    static SnapshotManifest write(Path folder, long term, long index, LocalSnapshot previous) throws IOException {
        Map<String, Entry> known = previous == null ? Map.of()
                : previous.manifest().files().stream().collect(Collectors.toMap(Entry::name, Function.identity()));
        List<Entry> entries = new ArrayList<>();
        try (Stream<Path> list = Files.list(folder)) {
            for (Path p : list.sorted().toList()) {
                String name = p.getFileName().toString();
                if (!Files.isRegularFile(p) || name.equals(FILE_NAME)) {
                    continue;
                }
                long size = Files.size(p);
                Entry old = known.get(name);
                if (old != null && old.size() == size && sameFile(previous.folder().resolve(name), p)) {
                    entries.add(old);
                } else {
                    entries.add(new Entry(name, size, crc(p)));
                }
            }
        }
        SnapshotManifest m = new SnapshotManifest(term, index, entries);
        StringBuilder text = new StringBuilder(HEADER).append('\n')
                .append("term ").append(term).append('\n')
                .append("index ").append(index).append('\n');
        for (Entry e : entries) {
            text.append("file ").append(e.name()).append(' ').append(e.size()).append(' ')
                    .append(Long.toHexString(e.crc32c())).append('\n');
        }
        Path file = folder.resolve(FILE_NAME);
        Files.writeString(file, text, StandardCharsets.UTF_8);
        fsync(file);
        return m;
    }

    /** Reads the manifest of the snapshot in {@code folder}; a missing or unreadable one is damage. */
    static SnapshotManifest read(Path folder) throws SnapshotDamagedException {
        Path file = folder.resolve(FILE_NAME);
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new SnapshotDamagedException(folder, "its file list " + FILE_NAME + " is missing");
        } catch (IOException e) {
            throw new SnapshotDamagedException(folder, "its file list " + FILE_NAME + " cannot be read: " + e);
        }
        try {
            if (lines.size() < 3 || !lines.get(0).equals(HEADER)) {
                throw new IllegalArgumentException("the first line is not '" + HEADER + "'");
            }
            long term = Long.parseLong(field(lines.get(1), "term"));
            long index = Long.parseLong(field(lines.get(2), "index"));
            List<Entry> entries = new ArrayList<>();
            for (String line : lines.subList(3, lines.size())) {
                String[] f = field(line, "file").split(" ");
                if (f.length != 3) {
                    throw new IllegalArgumentException("bad line '" + line + "'");
                }
                entries.add(new Entry(f[0], Long.parseLong(f[1]), Long.parseUnsignedLong(f[2], 16)));
            }
            return new SnapshotManifest(term, index, entries);
        } catch (IllegalArgumentException e) {
            throw new SnapshotDamagedException(folder, "its file list " + FILE_NAME + " is malformed: " + e.getMessage());
        }
    }

    /** Every listed file is present in {@code folder} with its size and checksum. */
    void verify(Path folder) throws SnapshotDamagedException {
        if (files.stream().noneMatch(e -> e.name().equals("CURRENT"))) {
            throw new SnapshotDamagedException(folder, "its file list names no RocksDB CURRENT file");
        }
        for (Entry e : files) {
            Path p = folder.resolve(e.name());
            try {
                if (!Files.isRegularFile(p)) {
                    throw new SnapshotDamagedException(folder, "file " + e.name() + " is missing");
                }
                long size = Files.size(p);
                if (size != e.size()) {
                    throw new SnapshotDamagedException(folder, "file " + e.name() + " has " + size + " bytes, the snapshot wrote " + e.size());
                }
                if (crc(p) != e.crc32c()) {
                    throw new SnapshotDamagedException(folder, "file " + e.name() + " does not match its checksum (its content changed)");
                }
            } catch (IOException io) {
                throw new SnapshotDamagedException(folder, "file " + e.name() + " cannot be read: " + io);
            }
        }
    }

    long totalBytes() {
        return files.stream().mapToLong(Entry::size).sum();
    }

    private static String field(String line, String key) {
        if (!line.startsWith(key + " ")) {
            throw new IllegalArgumentException("expected '" + key + " ...', found '" + line + "'");
        }
        return line.substring(key.length() + 1);
    }

    static long crc(Path p) throws IOException {
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(p)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                crc.update(buf, 0, n);
            }
        }
        return crc.getValue();
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    static void fsync(Path p) throws IOException {
        try (FileChannel c = FileChannel.open(p, Files.isDirectory(p) ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
            c.force(true);
        }
    }
}
