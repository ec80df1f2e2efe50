package io.durablemq.bench.jmh;

import io.durablemq.engine.store.ColumnOptions;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
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
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.RocksDBException;
import org.rocksdb.TableProperties;
import org.rocksdb.WriteBatch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Queue churn on the store alone: the writes the engine makes for QoS 1 messages to one subscriber
 * that lags {@code depth} messages behind. Per operation, one write batch: the new message's body
 * and queue entry; and, once {@code depth} messages are queued, the oldest one moves to in-flight
 * (queue entry deleted, in-flight record put) and is acknowledged (in-flight record and body
 * deleted). Keys and values have the engine's layout and sizes ({@link Keys}).
 *
 * <p>Score: messages cycled per second, OS-buffered writes (the churn, not the fsync, is measured;
 * {@link CommitBenchmark} measures commits). At the end of the trial the store is flushed, left to
 * finish its compactions (up to 60 s), and its size and tombstones are printed:
 * {@code sst} (rocksdb.total-sst-files-size), {@code blob} (rocksdb.total-blob-file-size),
 * {@code tombstones} (deletions in the live SST files, from their table properties),
 * {@code entries} (all entries in live SST files) and the live keys the churn leaves
 * (2 x depth: a body and a queue entry per queued message).
 *
 * <p>{@code profile}: column-family options ({@link ColumnOptions.Profile}); {@code deletes}:
 * DELETE for every key (the engine before s17), SINGLE_DELETE for all three kinds (queue entries,
 * in-flight records of QoS 1, bodies; each is put once before its delete here), or
 * SINGLE_DELETE_QUEUES_BODIES, what the engine does since s17: SingleDelete for queue entries and
 * bodies, Delete for in-flight records (in the engine they are rewritten at PUBREC and their
 * packet-id keys reused, engine/README.md "SingleDelete").
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
public class StoreChurnBenchmark {
    public enum Deletes { DELETE, SINGLE_DELETE, SINGLE_DELETE_QUEUES_BODIES }

    @Param({"GENERIC", "TUNED"})
    ColumnOptions.Profile profile;

    @Param({"DELETE", "SINGLE_DELETE"})
    Deletes deletes;

    @Param({"256"})
    int payloadBytes;

    /** Messages queued behind the subscriber: 200,000 x 256 B outgrows a 32 MiB memtable, so puts reach SST files before their delete. */
    @Param({"200000"})
    int depth;

    private Path dir;
    private Store store;
    private ColumnFamilyHandle messages;
    private ColumnFamilyHandle queues;
    private ColumnFamilyHandle inflight;
    private final byte[] session = Keys.session("churn-subscriber");
    private byte[] body;
    private final byte[] queueValue = new byte[40];
    private final byte[] inflightValue = new byte[41];
    private long next;
    private final java.util.SplittableRandom random = new java.util.SplittableRandom(12);

    @Setup(Level.Trial)
    public void open() throws Exception {
        dir = BenchDirs.create("churn");
        store = Store.open(dir, Durability.OS, profile);
        messages = store.handle(StoreColumn.MESSAGES);
        queues = store.handle(StoreColumn.QUEUES);
        inflight = store.handle(StoreColumn.INFLIGHT);
        body = new byte[payloadBytes + 40]; // MessageCodec adds topic and header bytes
        // Fresh random bytes per message (cycle()): equal or patterned bodies compress ~20x in SST
        // files (not in blob files, uncompressed here) and would flatter the LSM.
    }

    @Benchmark
    public void cycle() throws RocksDBException {
        long id = ++next;
        try (WriteBatch batch = new WriteBatch()) {
            random.nextBytes(body);
            batch.put(messages, Keys.message(id), body);
            batch.put(queues, Keys.queueEntry(session, id), queueValue);
            if (id > depth) {
                long old = id - depth;
                byte[] packet = Keys.packet(session, (int) (old % 65_535) + 1);
                delete(batch, queues, Keys.queueEntry(session, old), true);
                batch.put(inflight, packet, inflightValue);
                // the PUBACK: in the engine a later batch; here the same one, the keys' lives are what matter
                delete(batch, inflight, packet, false);
                delete(batch, messages, Keys.message(old), true);
            }
            store.write(batch);
        }
    }

    /** {@code queueOrBody}: a queue entry or a body, which SINGLE_DELETE_QUEUES_BODIES single-deletes too. */
    private void delete(WriteBatch batch, ColumnFamilyHandle cf, byte[] key, boolean queueOrBody) throws RocksDBException {
        if (deletes == Deletes.SINGLE_DELETE || (queueOrBody && deletes == Deletes.SINGLE_DELETE_QUEUES_BODIES)) {
            batch.singleDelete(cf, key);
        } else {
            batch.delete(cf, key);
        }
    }

    @TearDown(Level.Trial)
    public void report() throws Exception {
        try {
            store.flushAll();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline && (store.longPropertySum("rocksdb.compaction-pending") > 0
                    || store.longPropertySum("rocksdb.num-running-compactions") > 0)) {
                Thread.sleep(200);
            }
            long tombstones = 0;
            long entries = 0;
            int files = 0;
            for (StoreColumn c : new StoreColumn[] {StoreColumn.MESSAGES, StoreColumn.QUEUES, StoreColumn.INFLIGHT}) {
                for (TableProperties p : store.tableProperties(c).values()) {
                    tombstones += p.getNumDeletions();
                    entries += p.getNumEntries();
                    files++;
                }
            }
            long folder;
            try (Stream<Path> s = Files.list(dir)) {
                folder = s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
            }
            System.out.printf(Locale.ROOT, "%nCHURN profile=%s deletes=%s payload=%d depth=%d messages=%d"
                            + " sst=%.1fMB blob=%.1fMB folder=%.1fMB sstFiles=%d entries=%d tombstones=%d liveKeys=%d"
                            + " estimateNumKeys=%d compactionsPending=%d%n",
                    profile, deletes, payloadBytes, depth, next,
                    store.longPropertySum("rocksdb.total-sst-files-size") / 1e6,
                    Math.max(0, store.longPropertySum("rocksdb.total-blob-file-size")) / 1e6, folder / 1e6, files,
                    entries, tombstones, 2L * Math.min(next, depth),
                    store.longPropertySum("rocksdb.estimate-num-keys"),
                    store.longPropertySum("rocksdb.compaction-pending"));
        } finally {
            store.close();
            BenchDirs.delete(dir);
        }
    }
}
