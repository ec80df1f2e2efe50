package io.durablemq.broker.chaos;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A power cut in the middle of a write-ahead-log write: at the kill point the next write to the
 * newest RocksDB WAL file ({@code *.log}) is torn ({@code lazyfs::torn-op}: split in three parts of
 * which only the first and the third reach the disk), and LazyFS dies right after it as a machine
 * losing power would: its cache, so every unsynced write, is gone. The broker is then SIGKILLed
 * (its file system vanished under it) and restarted on the remounted backing folder.
 *
 * <p>A cut where the broker wrote nothing to the WAL in time falls back to a plain power cut
 * ({@code clear-cache}); {@link #torn()} counts the cuts that did tear a write.
 */
final class TornWalWrite implements Fault {
    private final LazyFs fs;
    private final Path dataDirInBacking;
    private final Path dataDirRelative;
    private int torn;
    private int untorn;
    private final StringBuilder notes = new StringBuilder();

    /** @param dataDirRelative the broker's data folder relative to the mount point */
    TornWalWrite(LazyFs fs, Path dataDirRelative) {
        this.fs = fs;
        this.dataDirRelative = dataDirRelative;
        this.dataDirInBacking = fs.backing().resolve(dataDirRelative);
    }

    @Override
    public String beforeKill(BrokerUnderTest broker) throws Exception {
        Optional<Path> wal = newestWal();
        if (wal.isEmpty()) {
            untorn++;
            return " [no WAL file to tear]";
        }
        // LazyFS names files by their backing path (its subdir module rewrites the mount path)
        Path name = fs.nameInFaults(dataDirRelative.resolve(wal.get().getFileName()));
        fs.arm("lazyfs::torn-op::file=" + name + "::persist=1,3::parts=3");
        if (fs.awaitExit(5_000)) {
            torn++;
            String persisted = fs.log().lines().filter(l -> l.contains("will persist"))
                    .map(l -> l.substring(l.indexOf("will persist") + "will ".length()))
                    .collect(java.util.stream.Collectors.joining(", "));
            return " [tore a write to " + wal.get().getFileName() + ": " + persisted + "]";
        }
        untorn++;
        return " [no write to " + wal.get().getFileName() + " within 5 s: plain power cut]";
    }

    @Override
    public boolean brokerMayDieFirst() {
        return true;
    }

    @Override
    public void afterKill() throws Exception {
        if (fs.isAlive()) {
            fs.clearCache(); // the torn write did not happen: drop the unsynced writes all the same
            // the armed fault still waits for the next write to that file; a later remount clears it
            fs.closeForRemount();
        }
        fs.remount();
    }

    private Optional<Path> newestWal() throws IOException {
        if (!Files.isDirectory(dataDirInBacking)) {
            return Optional.empty();
        }
        try (Stream<Path> files = Files.list(dataDirInBacking)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".log"))
                    .max(Comparator.comparing(f -> f.getFileName().toString()));
        }
    }

    /** Cuts that tore a WAL write. */
    int torn() {
        return torn;
    }

    /** Cuts without a WAL write to tear in time (plain power cuts). */
    int untorn() {
        return untorn;
    }

    @Override
    public String toString() {
        return "SIGKILL + torn WAL write (lazyfs::torn-op persist=1,3 of 3 parts) + power cut";
    }
}
