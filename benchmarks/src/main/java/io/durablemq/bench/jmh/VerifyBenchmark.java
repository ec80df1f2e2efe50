package io.durablemq.bench.jmh;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
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
 * {@code durablemq verify} ({@link StoreVerifier}: every block's checksum, a full scan of every
 * column family with bodies decoded, the store's invariants) on a closed store holding
 * {@code messages} queued QoS 1 messages over {@code sessions} offline persistent sessions,
 * filled as {@link RecoveryBenchmark} fills its store. Score: seconds per verify. Each
 * iteration must find the store healthy and every message queued, or the run fails.
 *
 * <p>Figure for issue 10: {@code -p messages=1000000}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
public class VerifyBenchmark {


    @Param({"100000"})
    int messages;

    @Param({"1000"})
    int sessions;

    @Param({"256"})
    int payloadBytes;

    private EngineFixture fx;
    private Path dir;
    private VerifyReport last;

    @Setup(Level.Trial)
    public void fill() throws Exception {
        fx = EngineFixture.open("verify", Durability.OS);
        dir = fx.dir;
        long fillNanos = fx.fillOfflineQueues("ver", messages, sessions, payloadBytes);
        long size = fx.engine.stats().storeSizeBytes();
        fx.closeKeepingStore();
        System.out.printf("%nfilled %,d messages of %d bytes over %,d sessions in %.1f s; store %,d bytes%n",
                messages, payloadBytes, sessions, fillNanos / 1e9, size);
    }

    @Benchmark
    public VerifyReport verify() {
        last = StoreVerifier.verify(dir);
        return last;
    }

    @TearDown(Level.Iteration)
    public void check() {
        if (!last.ok() || last.inventory().queued() != messages) {
            throw new IllegalStateException("verify did not find a healthy store with every message queued:\n" + last.toText());
        }
        System.out.printf("%nverify: healthy, %,d queued, %,d bodies, checked in %,d ms%n",
                last.inventory().queued(), last.inventory().bodies(), last.duration().toMillis());
    }

    @TearDown(Level.Trial)
    public void close() {
        BenchDirs.delete(dir);
    }
}
