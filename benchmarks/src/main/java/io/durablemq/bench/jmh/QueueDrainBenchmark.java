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
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Queue drain: a persistent subscriber comes back to {@value #MESSAGES} queued QoS 1 messages
 * and acknowledges each as it arrives; the engine refills its in-flight window (default 1,000)
 * from the queue. Score: microseconds per drained message (messages/s = 1e6 / score). The
 * backlog is rebuilt before each iteration, outside the measurement.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 10)
@Fork(value = 2, jvmArgsAppend = {"-Xmx2g"})
public class QueueDrainBenchmark {

    static final int MESSAGES = 20_000;
    private static final int FILL_WINDOW = 1_000;

    @Param({"FSYNC", "OS"})
    Durability durability;

    @Param({"256"})
    int payloadBytes;

    private EngineFixture fx;
    private SessionHandle publisher;
    private SessionHandle subscriber;
    private CountDownLatch acked;
    private long sequence;

    @Setup(Level.Trial)
    public void open() throws Exception {
        fx = EngineFixture.open("drain", durability);
        SessionHandle sink = fx.connect("sink", true, AckingSubscriber.ignoring());
        EngineFixture.subscribe(sink, "drain/t", 1);
        EngineFixture.join(sink.disconnect(-1));
        publisher = fx.connect("pub", false, AckingSubscriber.ignoring());
    }

    @Setup(Level.Iteration)
    public void fill() throws InterruptedException {
        Semaphore window = new Semaphore(FILL_WINDOW);
        for (int i = 0; i < MESSAGES; i++) {
            Windows.acquire(window, 1);
            long seq = sequence++;
            publisher.publish(Sequences.packetId(seq), Message.of("drain/t", Sequences.payload(seq, payloadBytes), 1))
                    .whenComplete((r, e) -> window.release());
        }
        Windows.drain(window, FILL_WINDOW);
        acked = new CountDownLatch(MESSAGES);
    }

    @Benchmark
    @OperationsPerInvocation(MESSAGES)
    public void drain() throws InterruptedException {
        AckingSubscriber listener = new AckingSubscriber(fx.loop(1), seq -> { }, id -> acked.countDown());
        subscriber = fx.resume("sink", listener);
        listener.attach(subscriber);
        subscriber.startDelivery();
        if (!acked.await(EngineFixture.TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            throw new IllegalStateException("drain stalled with " + acked.getCount() + " of " + MESSAGES + " left");
        }
    }

    @TearDown(Level.Iteration)
    public void goOffline() {
        EngineFixture.join(subscriber.disconnect(-1));
    }

    @TearDown(Level.Trial)
    public void close() {
        fx.close();
    }
}
