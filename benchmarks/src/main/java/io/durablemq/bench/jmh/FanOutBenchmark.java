package io.durablemq.bench.jmh;

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

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fan-out: one publisher, {@code subscribers} online QoS 1 subscribers of its topic that
 * acknowledge everything. An operation is one message delivered to every subscriber; up to
 * {@code window} messages are outstanding. Deliveries per second = score x subscribers.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 2, jvmArgsAppend = {"-Xmx2g"})
public class FanOutBenchmark {

    private static final int RING = 1 << 16;

    @Param({"1", "10", "100"})
    int subscribers;

    @Param({"FSYNC", "OS"})
    Durability durability;

    @Param({"100"})
    int window;

    @Param({"256"})
    int payloadBytes;

    private EngineFixture fx;
    private SessionHandle publisher;
    private Semaphore outstanding;
    private final AtomicIntegerArray remaining = new AtomicIntegerArray(RING);
    private final AtomicLong failures = new AtomicLong();
    private long sequence;

    @Setup(Level.Trial)
    public void open() throws Exception {
        fx = EngineFixture.open("fanout", durability);
        outstanding = new Semaphore(window);
        for (int i = 0; i < subscribers; i++) {
            AckingSubscriber sub = new AckingSubscriber(fx.loop(i), this::delivered, id -> { });
            SessionHandle h = fx.connect("sub-" + i, false, sub);
            sub.attach(h);
            EngineFixture.subscribe(h, "fan/t", 1);
            h.startDelivery();
        }
        publisher = fx.connect("pub", false, AckingSubscriber.ignoring());
    }

    private void delivered(long seq) {
        if (remaining.decrementAndGet((int) (seq & (RING - 1))) == 0) {
            outstanding.release();
        }
    }

    @Benchmark
    public void publish() throws InterruptedException {
        Windows.acquire(outstanding, 1);
        long seq = sequence++;
        remaining.set((int) (seq & (RING - 1)), subscribers);
        publisher.publish(Sequences.packetId(seq), Message.of("fan/t", Sequences.payload(seq, payloadBytes), 1))
                .whenComplete((r, e) -> {
                    if (e != null || r.matchedSessions() != subscribers) {
                        failures.incrementAndGet();
                    }
                });
    }

    @TearDown(Level.Iteration)
    public void settle() throws InterruptedException {
        Windows.drain(outstanding, window);
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " publishes failed or were not routed to every subscriber");
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        fx.close();
    }
}
