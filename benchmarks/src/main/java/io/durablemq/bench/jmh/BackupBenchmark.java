package io.durablemq.bench.jmh;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.RecoveryReport;
import io.durablemq.engine.backup.BackupResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Online backup ({@code Engine.backup}, a RocksDB checkpoint) of a live engine holding
 * {@code messages} queued QoS 1 messages spread over {@code sessions} offline persistent
 * sessions, filled as {@link RecoveryBenchmark} fills its store. Score: milliseconds per backup.
 * No warmup: the first iteration is the first backup after the fill, which also flushes the
 * memtables; later ones find them flushed and only link files. Each iteration prints the
 * backup's files, bytes, and the bytes that are hard links shared with the live store; at the
 * end the last backup is opened as an engine and must hold every queued message.
 *
 * <p>Figure for issue 10: {@code -p messages=1000000 -p payloadBytes=64}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 0)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
public class BackupBenchmark {


    @Param({"100000"})
    int messages;

    @Param({"1000"})
    int sessions;

    @Param({"64"})
    int payloadBytes;

    private EngineFixture fx;
    private Path backups;
    private int iteration;
    private BackupResult last;

    @Setup(Level.Trial)
    public void fill() throws Exception {
        fx = EngineFixture.open("backup", Durability.OS);
        backups = BenchDirs.create("backup-copies");
        long fillNanos = fx.fillOfflineQueues("bak", messages, sessions, payloadBytes);
        System.out.printf("%nfilled %,d messages of %d bytes over %,d sessions in %.1f s; live store %,d bytes%n",
                messages, payloadBytes, sessions, fillNanos / 1e9, fx.engine.stats().storeSizeBytes());
    }

    @Benchmark
    public BackupResult backup() throws Exception {
        if (last != null) {
            BenchDirs.delete(last.path()); // the previous copy; the last one is opened at the end
        }
        last = fx.engine.backup(backups.resolve("backup-" + iteration++));
        return last;
    }

    @TearDown(Level.Iteration)
    public void report() {
        if (fx.engine.stats().queuedMessages() != messages) {
            throw new IllegalStateException("engine holds " + fx.engine.stats().queuedMessages() + " queued messages");
        }
        System.out.printf("%nbackup %d: %,d ms (engine-measured), %d files, %,d bytes, of which %,d hard-linked with the store "
                        + "(%,d bytes copied)%n", iteration, last.duration().toMillis(), last.files(), last.bytes(),
                last.sharedBytes(), last.bytes() - last.sharedBytes());
    }

    /** The restore check: the last copy opens as an engine holding every queued message. */
    @TearDown(Level.Trial)
    public void close() throws Exception {
        fx.close();
        long t0 = System.nanoTime();
        try (Engine restored = Engine.open(EngineConfig.defaults(last.path()), new SimpleMeterRegistry())) {
            RecoveryReport r = restored.recoveryReport();
            System.out.printf("%nthe last backup opens: %,d queued messages in %,d sessions recovered in %,d ms%n",
                    r.queuedMessages(), r.sessions(), (System.nanoTime() - t0) / 1_000_000);
            if (r.queuedMessages() != messages) {
                throw new IllegalStateException("the backup holds " + r.queuedMessages() + " queued messages, expected " + messages);
            }
        } finally {
            BenchDirs.delete(backups);
        }
    }
}
