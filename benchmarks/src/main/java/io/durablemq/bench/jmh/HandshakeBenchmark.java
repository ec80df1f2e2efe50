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

import java.util.concurrent.Executor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The whole MQTT handshake of one message through the engine, both sides: QoS 1 is PUBLISH ->
 * PUBACK in, PUBLISH -> PUBACK out; QoS 2 is PUBLISH -> PUBREC, PUBREL -> PUBCOMP in and
 * PUBLISH -> PUBREC, PUBREL -> PUBCOMP out, every step durable before the next. With
 * {@code window} 1 the score's inverse is the per-message latency; with a larger window,
 * pipelined throughput.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 2, jvmArgsAppend = {"-Xmx2g"})
public class HandshakeBenchmark {

    @Param({"1", "2"})
    int qos;

    @Param({"1", "64"})
    int window;

    @Param({"FSYNC", "OS"})
    Durability durability;

    @Param({"256"})
    int payloadBytes;

    private EngineFixture fx;
    private SessionHandle publisher;
    private Executor publisherLoop;
    private Semaphore publisherSide;
    private Semaphore subscriberSide;
    private final AtomicLong failures = new AtomicLong();
    private long sequence;

    @Setup(Level.Trial)
    public void open() throws Exception {
        fx = EngineFixture.open("handshake", durability);
        publisherSide = new Semaphore(window);
        subscriberSide = new Semaphore(window);
        AckingSubscriber sub = new AckingSubscriber(fx.loop(1), seq -> { }, id -> subscriberSide.release());
        SessionHandle h = fx.connect("sub", false, sub);
        sub.attach(h);
        EngineFixture.subscribe(h, "hs/t", 2);
        h.startDelivery();
        publisherLoop = fx.loop(0);
        publisher = fx.connect("pub", false, AckingSubscriber.ignoring());
    }

    @Benchmark
    public void message() throws InterruptedException {
        Windows.acquire(publisherSide, 1);
        Windows.acquire(subscriberSide, 1);
        long seq = sequence++;
        int packetId = Sequences.packetId(seq);
        var published = publisher.publish(packetId, Message.of("hs/t", Sequences.payload(seq, payloadBytes), qos));
        if (qos == 1) {
            published.whenCompleteAsync((r, e) -> done(e == null && r.isSuccess()), publisherLoop);
        } else {
            // PUBREC was sent on completion; the client's PUBREL comes back over the network.
            published.thenComposeAsync(r -> publisher.release(packetId), publisherLoop)
                    .whenCompleteAsync((v, e) -> done(e == null), publisherLoop);
        }
    }

    private void done(boolean ok) {
        if (!ok) {
            failures.incrementAndGet();
        }
        publisherSide.release();
    }

    @TearDown(Level.Iteration)
    public void settle() throws InterruptedException {
        Windows.drain(publisherSide, window);
        Windows.drain(subscriberSide, window);
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " handshakes failed");
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        fx.close();
    }
}
