package io.durablemq.bench.jmh;

import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.WalDamage;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.rocksdb.WriteBatch;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The WAL check that runs before every open of the store ({@code WalDamage.find}: framing and
 * checksum of every record of every live WAL file, read through a read-only mapping) on an intact
 * WAL of {@code walMegabytes}, written as 16 KiB records spread over the column families so no
 * memtable fills and switches the WAL. The page cache is warm (the WAL was just written): a cold
 * start adds the disk's sequential read time. Score: ms per check; a check that finds damage in
 * the intact WAL fails the run. {@code Store.open}'s whole time (check plus RocksDB's replay) is
 * printed once per trial, after the measurements (the open replays the WAL and deletes it).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xmx256m"})
public class WalCheckBenchmark {

    @Param({"64", "240"})
    int walMegabytes;

    private Path dir;

    @Setup(Level.Trial)
    public void writeWal() throws Exception {
        dir = BenchDirs.create("walcheck");
        Path data = dir.resolve("data");
        try (Store store = Store.open(data, Durability.OS)) {
            Random random = new Random(walMegabytes);
            byte[] value = new byte[16 * 1024];
            StoreColumn[] columns = StoreColumn.values();
            long written = 0;
            for (long i = 0; written < walMegabytes * 1024L * 1024; i++) {
                random.nextBytes(value);
                try (WriteBatch b = new WriteBatch()) {
                    b.put(store.handle(columns[(int) (i % columns.length)]), ("wal-" + i).getBytes(StandardCharsets.UTF_8), value);
                    store.write(b);
                }
                written += value.length;
            }
        }
        long walBytes = 0;
        try (Stream<Path> files = Files.list(data)) {
            for (Path wal : files.filter(p -> p.toString().endsWith(".log")).toList()) {
                walBytes += Files.size(wal);
            }
        }
        System.out.printf("%nWAL %.1f MB written%n", walBytes / 1e6);
    }

    @Benchmark
    public Optional<WalDamage> check() throws Exception {
        Optional<WalDamage> damage = WalDamage.find(dir.resolve("data"));
        if (damage.isPresent()) {
            throw new IllegalStateException("the check found damage in an intact WAL: " + damage.get());
        }
        return damage;
    }

    /** After the measurements: an open replays the WAL into SST files and deletes it, so it comes last. */
    @TearDown(Level.Trial)
    public void openThenDelete() throws Exception {
        long t0 = System.nanoTime();
        try (Store ignored = Store.open(dir.resolve("data"), Durability.OS)) {
            System.out.printf("%nStore.open with the check and RocksDB's replay: %,d ms%n", (System.nanoTime() - t0) / 1_000_000);
        }
        BenchDirs.delete(dir);
    }
}
