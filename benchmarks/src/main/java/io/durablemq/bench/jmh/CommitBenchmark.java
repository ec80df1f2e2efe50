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

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The commit path: QoS 1 publishes from {@code publishers} client sessions, each with exactly
 * one publish outstanding (a client waiting for its PUBACK), routed to one offline persistent
 * subscriber's queue. Score: durable commits (PUBACKs) per second. The group committer should
 * make many publishers share each fsync; compare with {@link RawFsyncBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 2, jvmArgsAppend = {"-Xmx2g"})
public class CommitBenchmark {

    @Param({"1", "16", "256"})
    int publishers;

    @Param({"FSYNC", "OS"})
    Durability durability;

    @Param({"256"})
    int payloadBytes;

    private EngineFixture fx;
    private SessionHandle[] sessions;
    private long[] packetCounters;
    private final ConcurrentLinkedQueue<Integer> idle = new ConcurrentLinkedQueue<>();
    private Semaphore slots;
    private final AtomicLong failures = new AtomicLong();
    private long sequence;

    @Setup(Level.Trial)
    public void open() throws Exception {
        fx = EngineFixture.open("commit", durability,
                c -> c.withQueueLimits(Long.MAX_VALUE, Long.MAX_VALUE, c.overflowPolicy()));
        sessions = new SessionHandle[publishers];
        packetCounters = new long[publishers];
        for (int i = 0; i < publishers; i++) {
            sessions[i] = fx.connect("pub-" + i, false, AckingSubscriber.ignoring());
            idle.add(i);
        }
        slots = new Semaphore(publishers);
    }

    /** A fresh sink queue per iteration keeps memory flat however long the run. */
    @Setup(Level.Iteration)
    public void resetSink() {
        SessionHandle sink = fx.connect("sink", true, AckingSubscriber.ignoring());
        EngineFixture.subscribe(sink, "commit/#", 1);
        EngineFixture.join(sink.disconnect(-1));
    }

    @Benchmark
    public void publish() throws InterruptedException {
        Windows.acquire(slots, 1);
        int i = idle.poll();
        Message m = Message.of("commit/p" + i, Sequences.payload(sequence++, payloadBytes), 1);
        sessions[i].publish(Sequences.packetId(packetCounters[i]++), m).whenComplete((r, e) -> {
            if (e != null || !r.isSuccess()) {
                failures.incrementAndGet();
            }
            idle.add(i);
            slots.release();
        });
    }

    @TearDown(Level.Iteration)
    public void settle() throws InterruptedException {
        Windows.drain(slots, publishers);
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " publishes failed");
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        fx.close();
    }
}
