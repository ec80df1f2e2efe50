package io.durablemq.bench.jmh;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.RecoveryReport;
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

import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;

/**
 * Recovery: open a store holding {@code messages} queued QoS 1 messages spread over
 * {@code sessions} offline persistent sessions (each its own topic, so every message is its
 * own body) and rebuild the in-memory indexes. Score: milliseconds per open. The fork runs with
 * {@code -Xmx256m}, the heap budget issue 6 sets for 1,000,000 queued messages; after each open
 * the heap in use after a full GC is printed ("heap after recovery").
 *
 * <p>{@code messages} counts queue entries; with {@code fanOut} above 1 each published message
 * reaches that many sessions, so entries share bodies (issue 14's 10^8 entries:
 * {@code -p messages=100000000 -p sessions=1000 -p fanOut=1000}).
 *
 * <p>{@code -p store=DIR} opens a store built by {@code fill.BulkBacklogStore} instead (issue 14's
 * 10,000 sessions x 10,000 messages: {@code -p store=DIR -p messages=100000000}).
 *
 * <p>Figure for issue 2: {@code -p messages=1000000 -p sessions=1000}. Issue 14: recovery reads
 * each queue's first page only and no body, so time and heap should not grow with
 * {@code messages}; the background check that starts after each open is running (and using up
 * to its window's reference map) when the heap is measured, and is cancelled by the close.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xmx256m"})
public class RecoveryBenchmark {


    @Param({"100000"})
    int messages;

    @Param({"1000"})
    int sessions;

    @Param({"256"})
    int payloadBytes;

    /**
     * Sessions each message reaches: 1 = every queued entry its own body (the issue-2 figure);
     * {@code sessions} = one topic for all, {@code messages / sessions} bodies shared by every
     * queue, which makes 10^8 entries reachable (1,000 sessions x 100,000 messages).
     */
    @Param({"1"})
    int fanOut;

    /**
     * A prebuilt store to open instead of filling one (built by {@code fill.BulkBacklogStore});
     * {@code messages} must be the entries it holds. Kept after the trial (it is the caller's).
     */
    @Param({""})
    String store;

    private java.nio.file.Path dir;
    private EngineConfig config;
    private Engine opened;

    @Setup(Level.Trial)
    public void fill() throws Exception {
        if (!store.isEmpty()) {
            dir = java.nio.file.Path.of(store);
            config = EngineConfig.defaults(dir).withDurability(Durability.FSYNC)
                    .withAdmission(io.durablemq.engine.guard.AdmissionSettings.off());
            System.out.printf("%nprebuilt store %s: %,d bytes on disk, %,d queue entries expected%n", dir, BenchDirs.size(dir), messages);
            return;
        }
        // Filling is not what is measured: OS durability makes it quicker, the data is the same.
        EngineFixture fx = EngineFixture.open("recovery", Durability.OS);
        dir = fx.dir;
        config = fx.config.withDurability(Durability.FSYNC);
        long fillNanos = fx.fillOfflineQueues("rec", messages, sessions, fanOut, payloadBytes);
        System.out.printf("%nfilled %,d queue entries (%,d bodies, fan-out %d) over %,d sessions in %.1f s;"
                        + " heap in use with them queued: %s; store on disk: %,d bytes%n",
                messages, messages / fanOut, fanOut, sessions, fillNanos / 1e9, heapAfterGc(), BenchDirs.size(dir));
        // Dropped entirely, so the heap figures after recovery count only the reopened engine.
        fx.closeKeepingStore();
    }

    @Benchmark
    public RecoveryReport recover() throws Exception {
        opened = Engine.open(config, new SimpleMeterRegistry());
        return opened.recoveryReport();
    }

    @TearDown(Level.Iteration)
    public void report() {
        RecoveryReport r = opened.recoveryReport();
        String heap = heapAfterGc();
        if (r.queuedMessages() != messages) {
            throw new IllegalStateException("recovered " + r.queuedMessages() + " queued messages, expected " + messages);
        }
        System.out.printf("%nrecovered %,d queued messages in %,d sessions, engine-reported %d ms, %,d records read;"
                        + " heap after recovery: %s (background check %s)%n",
                r.queuedMessages(), r.sessions(), r.duration().toMillis(), r.recordsChecked(), heap,
                opened.backgroundCheck().state());
        opened.close();
        opened = null;
    }

    @TearDown(Level.Trial)
    public void close() {
        if (store.isEmpty()) {
            BenchDirs.delete(dir);
        }
    }

    private static String heapAfterGc() {
        System.gc();
        long used = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        long max = Runtime.getRuntime().maxMemory();
        return String.format("%.1f MiB used of %.0f MiB max", used / 1048576.0, max / 1048576.0);
    }
}
