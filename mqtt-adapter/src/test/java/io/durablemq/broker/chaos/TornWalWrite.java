package io.durablemq.broker.chaos;

import io.durablemq.engine.store.WalDamage;
import io.durablemq.engine.store.WalFileScan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
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
 *
 * <p>The torn record keeps its length and header with a hole in its payload, which RocksDB's open
 * cannot tell from damage to a synced record: the broker refuses the store as CORRUPT, naming the
 * WAL file and the repair command. Then the harness does what the message says
 * ({@link OperatorRepair}: {@code durablemq repair DATA --durability fsync}) and the run goes on
 * if the report says the damage was confined to the WAL's tail and nothing acknowledged was lost.
 */
final class TornWalWrite implements Fault {
    private final LazyFs fs;
    private final Path dataDirInBacking;
    private final Path dataDirRelative;
    private int torn;
    private int untorn;
    private boolean lastCutTore;
    private int repairedAfterTorn;
    private int refusedAfterPlainCut;
    private int refusalsNamingWalAndRepair;
    private final java.util.List<OperatorRepair.Outcome> repairs = new java.util.ArrayList<>();
    private String failedRepair;
    private final List<String> walScans = new java.util.ArrayList<>();
    private final StringBuilder notes = new StringBuilder();

    /** @param dataDirRelative the broker's data folder relative to the mount point */
    /** The LazyFS fault armed on the newest WAL file (%s: its name as LazyFS knows it). */
    enum Kind {
        /** One write split in three parts; parts 1 and 3 reach the disk. */
        TORN_OP("lazyfs::torn-op::file=%s::persist=1,3::parts=3", "torn-op persist=1,3 of 3 parts"),
        /** Of a group of writes with no fsync between them, only the 2nd reaches the disk. */
        TORN_SEQ("lazyfs::torn-seq::op=write::file=%s::persist=2", "torn-seq persist=2");

        private final String command;
        private final String label;

        Kind(String command, String label) {
            this.command = command;
            this.label = label;
        }
    }

    private final Kind kind;

    TornWalWrite(LazyFs fs, Path dataDirRelative) {
        this(fs, dataDirRelative, Kind.TORN_OP);
    }

    TornWalWrite(LazyFs fs, Path dataDirRelative, Kind kind) {
        this.kind = kind;
        this.fs = fs;
        this.dataDirRelative = dataDirRelative;
        this.dataDirInBacking = fs.backing().resolve(dataDirRelative);
    }

    @Override
    public String beforeKill(BrokerUnderTest broker) throws Exception {
        Optional<Path> wal = newestWal();
        lastCutTore = false;
        if (wal.isEmpty()) {
            untorn++;
            return " [no WAL file to tear]";
        }
        // LazyFS names files by their backing path (its subdir module rewrites the mount path)
        Path name = fs.nameInFaults(dataDirRelative.resolve(wal.get().getFileName()));
        fs.arm(String.format(kind.command, name));
        if (fs.awaitExit(5_000)) {
            torn++;
            lastCutTore = true;
            String persisted = fs.log().lines().filter(l -> l.contains("will persist") || l.contains("Going to persist"))
                    .map(l -> l.contains("will persist") ? l.substring(l.indexOf("will persist") + "will ".length())
                            : l.substring(l.indexOf("Going to persist") + "Going to ".length()))
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

    /**
     * A refusal as CORRUPT: runs the repair command. False (the run ends at the refusal, and the
     * test fails on it) if the refusal was of another kind, or the repair failed, or its report
     * does not say the damage was confined to the tail with nothing acknowledged lost.
     */
    @Override
    public boolean repairRefusedStart(BrokerUnderTest broker) throws Exception {
        String log = broker.log();
        if (!log.contains(" is corrupt")) {
            failedRepair = "refused, but not as corrupt: " + BrokerUnderTest.firstErrorLine(log);
            return false;
        }
        if (!lastCutTore) {
            refusedAfterPlainCut++;
        }
        if (log.contains(".log: the record at byte") && log.contains("durablemq repair " + broker.dataDir().toAbsolutePath()
                + " --durability fsync")) {
            refusalsNamingWalAndRepair++;
        }
        Path output = broker.currentLog().resolveSibling("repair-" + (repairs.size() + 1) + ".txt");
        OperatorRepair.Outcome o = OperatorRepair.run(BrokerUnderTest.brokerJar(), broker.dataDir(), output);
        repairs.add(o);
        if (!o.ok()) {
            failedRepair = "repair after the refusal (" + BrokerUnderTest.firstErrorLine(log) + ") exited " + o.exitCode()
                    + (o.confined() ? "" : ", its report does not say the WAL damage was confined to the tail")
                    + (o.nothingAckLost() ? "" : ", its report does not say nothing acknowledged was lost")
                    + "; report " + output + ":\n" + o.report();
            return false;
        }
        if (lastCutTore) {
            repairedAfterTorn++;
            lastCutTore = false;
        }
        return true;
    }

    /** Restarts after a torn write where the store opened without repair. */
    int openedByItself() {
        // every torn cut is followed by a restart that opened, was repaired, or failed its repair (the run ended)
        return torn - repairedAfterTorn - (lastCutTore && failedRepair != null ? 1 : 0);
    }

    /** Restarts after a torn write refused as CORRUPT and repaired by the command. */
    int repairedAfterTorn() {
        return repairedAfterTorn;
    }

    /** Refusals after a cut that tore nothing (a plain power cut must never be refused in fsync mode). */
    int refusedAfterPlainCut() {
        return refusedAfterPlainCut;
    }

    /** Refusals whose message named a WAL file with the damaged record's offset and the exact repair command. */
    int refusalsNamingWalAndRepair() {
        return refusalsNamingWalAndRepair;
    }

    List<OperatorRepair.Outcome> repairs() {
        return List.copyOf(repairs);
    }

    /** Why a refusal could not be repaired, or null. */
    String failedRepair() {
        return failedRepair;
    }

    @Override
    public void afterKill() throws Exception {
        if (fs.isAlive()) {
            fs.clearCache(); // the torn write did not happen: drop the unsynced writes all the same
            // the armed fault still waits for the next write to that file; a later remount clears it
            fs.closeForRemount();
        }
        fs.remount();
        if (lastCutTore) {
            // what the disk holds now, by DurableMQ's own WAL scan: tells a store that will open by itself
            // (no damaged record: the hole fell on bytes that were zero anyway, or the record was cut short) from one
            // the broker must refuse
            Optional<Path> newest = newestWal();
            if (newest.isPresent()) { // kept for inspection: the WAL as the torn write left it
                Files.copy(newest.get(), fs.backing().resolveSibling("torn-" + torn + "-" + newest.get().getFileName()),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            Optional<WalDamage> damage = WalDamage.find(dataDirInBacking);
            if (damage.isPresent()) {
                walScans.add(damage.get().tail() + " damage at byte " + damage.get().scan().firstBadOffset() + " of "
                        + damage.get().file().getFileName());
            } else {
                Optional<Path> wal = newestWal();
                WalFileScan.Result r = wal.isEmpty() ? null : WalFileScan.scan(wal.get());
                walScans.add(r == null ? "no WAL file" : r.cutShortAt() >= 0 ? "last record cut short at byte "
                        + r.cutShortAt() + " of " + wal.get().getFileName() + " (file length " + r.length() + ")"
                        : "no damaged WAL record");
            }
        }
    }

    /** Per torn cut, what the WAL scan found on the disk before the restart. */
    List<String> walScans() {
        return List.copyOf(walScans);
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
        return "SIGKILL + torn WAL write (lazyfs::" + kind.label + ") + power cut";
    }
}
