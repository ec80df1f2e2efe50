package io.durablemq.engine.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The first damaged record in a store's WAL files ({@link WalFileScan}), and whether the damage
 * is confined to the tail of the newest WAL file: nothing valid after it, which is what a power
 * cut during the last write leaves. Used to explain a refused open and by {@code repair}.
 *
 * @param scan       the scan of the WAL file holding the first damaged record
 * @param newestWal  whether that file is the newest WAL file of the folder
 * @param tail       the verdict
 */
public record WalDamage(WalFileScan.Result scan, boolean newestWal, Tail tail) {

    /** Where the damage lies. */
    public enum Tail {
        /** The damaged record is the last write in the newest WAL file: nothing valid follows it. */
        CONFINED,
        /** A valid write follows the damaged record (in the same file, or newer WAL files exist). */
        NOT_CONFINED,
        /** The readings disagree (see repair's {@code WalTailCheck}): whether it is confined cannot be told. */
        UNKNOWN
    }

    public Path file() {
        return scan.file();
    }

    /**
     * Scans the folder's WAL files oldest first; empty when every record of every WAL file holds
     * its checksum (the damage RocksDB reported, if any, is elsewhere).
     */
    public static Optional<WalDamage> find(Path dir) throws IOException {
        List<Path> wals;
        try (Stream<Path> files = Files.list(dir)) {
            wals = files.filter(f -> f.getFileName().toString().matches("\\d+\\.log"))
                    .sorted(Comparator.comparingLong(f -> Long.parseLong(f.getFileName().toString().replace(".log", ""))))
                    .toList();
        }
        for (int i = 0; i < wals.size(); i++) {
            WalFileScan.Result r = WalFileScan.scan(wals.get(i));
            if (r.damaged()) {
                boolean newest = i == wals.size() - 1;
                Tail tail = !newest || r.after() == WalFileScan.After.VALID_WRITE ? Tail.NOT_CONFINED : Tail.CONFINED;
                return Optional.of(new WalDamage(r, newest, tail));
            }
        }
        return Optional.empty();
    }

    /** Where the damage is, in words: file, offset, what follows. */
    public String where() {
        String at = "WAL file " + scan.file() + ": the record at byte " + scan.firstBadOffset() + " (of "
                + scan.length() + ") " + scan.firstBadReason();
        return at + switch (tail) {
            case CONFINED -> "; nothing valid follows it and it is the newest WAL file: the damage is confined to the"
                    + " WAL's last write";
            case NOT_CONFINED -> scan.validAfter() >= 0
                    ? "; a valid write follows it at byte " + scan.validAfter() + ": the damage is NOT confined to the tail"
                    : "; newer WAL files follow it: the damage is NOT confined to the tail";
            case UNKNOWN -> "; whether a later write followed it cannot be told";
        };
    }

    /**
     * The refusal of {@link WalPreCheck}, before RocksDB's open: valid writes follow the damaged
     * region, so RocksDB (which may read a damaged header as padding and open without an error)
     * would skip synced writes.
     */
    public String skippedWritesRefusal(Path dir) {
        return "DurableMQ's WAL check before the open: " + where() + ". Valid writes follow the damaged region, so"
                + " RocksDB's open would skip synced (acknowledged) writes, possibly without an error; the start is"
                + " refused. Next step: `durablemq verify " + dir.toAbsolutePath() + "` shows the damage; `durablemq repair "
                + dir.toAbsolutePath() + " --durability fsync` recovers what can be read and reports what was lost"
                + " (the backup it makes keeps the original); then start again.";
    }

    /** The refusal message for {@link Store#open}: where, what it means, the next step. */
    String refusal(Path dir, String rocksDbMessage) {
        String repair = "durablemq repair " + dir.toAbsolutePath() + " --durability fsync";
        String base = "RocksDB: " + rocksDbMessage + ". " + where() + ". ";
        if (tail == Tail.CONFINED) {
            return base + "A damaged last WAL record is what a power cut during a write leaves; in fsync mode such a"
                    + " record was never acknowledged (its fsync had not returned). Its bytes cannot tell it from damage"
                    + " to a synced record, so the start is refused. Next step: run `" + repair + "` (it backs the folder"
                    + " up, cuts the WAL before the damaged record and reports what was dropped), then start again.";
        }
        return base + "Acknowledged writes may lie after the damage. `" + repair + "` recovers everything before the"
                + " damaged record and reports what was lost (the backup it makes keeps the original); then start again.";
    }
}
