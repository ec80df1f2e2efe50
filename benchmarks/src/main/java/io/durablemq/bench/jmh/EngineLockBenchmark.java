package io.durablemq.bench.jmh;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.Timer;
import org.openjdk.jmh.annotations.AuxCounters;
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
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where the engine's lock costs (issue 12, target 4): each JMH thread drives its own independent
 * pair, a publisher session and a subscriber session on a topic no one else uses, and does the
 * pair's engine calls itself: a QoS 1 publish, then a PUBACK for every PUBLISH the subscriber was
 * sent since. With one lock in the engine, pairs on different threads share nothing but that
 * lock (and the committer), so routed msgs/s at 1, 2 and 4 threads ({@code -t 1/2/4}) shows how
 * far the engine lets independent connections run in parallel.
 *
 * <p>Score: publishes routed per second (each one queued, delivered and acknowledged). Aux
 * counters, per second: {@code acks} (PUBACKs the subscribers sent), {@code commits} (batches
 * written, from the commit-latency timer), and, from {@link ThreadMXBean} contention monitoring,
 * {@code blockedMs} (milliseconds per second the benchmark threads together spent blocked entering
 * a monitor, which in these calls is the engine's {@code mutex}: divided by 10 x threads it is the
 * percentage of their time spent waiting) against {@code inCallMs} (milliseconds per second
 * inside the engine calls, blocked or not): in-call minus blocked is roughly the time the threads
 * held the lock. Each thread keeps up to {@link #WINDOW}
 * publishes awaiting their PUBACK, so it is not bound by one commit's latency.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 4, time = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
public class EngineLockBenchmark {

    /** Publishes one thread keeps awaiting their PUBACK. */
    static final int WINDOW = 32;

    @Param({"OS", "FSYNC"})
    Durability durability;

    @Param({"256"})
    int payloadBytes;

    /** The engine's partitions (engine_partitions): 1 is one lock for every operation. */
    @Param({"1"})
    int partitions;

    EngineFixture fx;
    private final AtomicInteger pairs = new AtomicInteger();
    private final AtomicLong failures = new AtomicLong();
    private final java.util.concurrent.atomic.AtomicReference<String> firstFailure = new java.util.concurrent.atomic.AtomicReference<>();
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();

    @Setup(Level.Trial)
    public void open() throws Exception {
        fx = EngineFixture.open("engine-lock", durability, c -> c.withPartitions(partitions));
        if (threads.isThreadContentionMonitoringSupported()) {
            threads.setThreadContentionMonitoringEnabled(true);
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        fx.close();
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " engine calls failed, the first: " + firstFailure.get());
        }
    }

    long commits() {
        Timer t = fx.meters.find("durablemq.commit.latency").timer();
        return t == null ? 0 : t.count();
    }

    /** Milliseconds this thread has spent blocked on monitors since contention monitoring was enabled. */
    long blockedMillis() {
        ThreadInfo info = threads.getThreadInfo(Thread.currentThread().getId());
        return info == null ? 0 : Math.max(0, info.getBlockedTime());
    }

    /** One thread's publisher/subscriber pair. */
    @State(Scope.Thread)
    public static class Pair {
        SessionHandle publisher;
        SessionHandle subscriber;
        int index;
        String topic;
        Semaphore window;
        long sequence;
        final ConcurrentLinkedQueue<Integer> toAck = new ConcurrentLinkedQueue<>();

        @Setup(Level.Trial)
        public void connect(EngineLockBenchmark b) {
            int n = b.pairs.getAndIncrement();
            index = n;
            topic = "lock/" + n;
            window = new Semaphore(WINDOW);
            subscriber = b.fx.connect("lock-sub-" + n, false, new SessionListener() {
                @Override
                public void onPublish(OutboundPublish p) {
                    if (p.qos() > 0) {
                        toAck.add(p.packetId()); // acknowledged by the pair's own thread, as an event loop would
                    }
                }

                @Override
                public void onPubrel(int packetId) {
                }

                @Override
                public void onSessionClosed(CloseReason reason) {
                }
            });
            EngineFixture.subscribe(subscriber, topic, 1);
            subscriber.startDelivery();
            publisher = b.fx.connect("lock-pub-" + n, false, AckingSubscriber.ignoring());
            publisher.startDelivery();
        }

        /** Acknowledges everything delivered so far. */
        int ackDelivered(EngineLockBenchmark b, Figures f) {
            int n = 0;
            Integer id;
            while ((id = toAck.poll()) != null) {
                b.ack(subscriber, id, f);
                f.acks++;
                n++;
            }
            return n;
        }
    }

    /** Figures of one iteration, per second (JMH divides by the iteration time and sums over the threads). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Figures {
        public long commits;
        public long blockedMs;
        public long inCallMs;
        /** PUBACKs sent: equal to the score's operations once the window drains (every message delivered). */
        public long acks;
        long inCallNanos;
        private long commitsAtStart;
        private long blockedAtStart;

        @Setup(Level.Iteration)
        public void start(EngineLockBenchmark b) {
            commitsAtStart = b.commits();
            blockedAtStart = b.blockedMillis();
            inCallNanos = 0;
            commits = 0;
            blockedMs = 0;
            inCallMs = 0;
            acks = 0;
        }

        @TearDown(Level.Iteration)
        public void stop(EngineLockBenchmark b, Pair p) throws InterruptedException {
            blockedMs = b.blockedMillis() - blockedAtStart;
            inCallMs = inCallNanos / 1_000_000;
            // Commits are broker-wide: one thread reports them, or JMH's sum would count them once per thread.
            commits = p.index == 0 ? b.commits() - commitsAtStart : 0;
            // Let the window empty so the next iteration starts from nothing outstanding.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(EngineFixture.TIMEOUT_SECONDS);
            while (!p.window.tryAcquire(WINDOW, 1, TimeUnit.MILLISECONDS)) {
                p.ackDelivered(b, this);
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("publishes not acknowledged within the timeout");
                }
            }
            p.window.release(WINDOW);
            p.ackDelivered(b, this);
        }
    }

    private void failed(String what) {
        failures.incrementAndGet();
        firstFailure.compareAndSet(null, what);
    }

    void ack(SessionHandle subscriber, int packetId, Figures f) {
        long t0 = System.nanoTime();
        subscriber.puback(packetId).whenComplete((r, e) -> {
            if (e != null) {
                failed("PUBACK " + packetId + ": " + e);
            }
        });
        f.inCallNanos += System.nanoTime() - t0;
    }

    @Benchmark
    public void publishDeliverAck(Pair p, Figures f) throws InterruptedException {
        while (!p.window.tryAcquire()) {
            if (p.ackDelivered(this, f) == 0) {
                Windows.acquire(p.window, 1); // nothing to acknowledge: wait for a PUBACK
                break;
            }
        }
        long seq = p.sequence++;
        long t0 = System.nanoTime();
        p.publisher.publish(Sequences.packetId(seq), Message.of(p.topic, Sequences.payload(seq, payloadBytes), 1))
                .whenComplete((r, e) -> {
                    if (e != null || !r.isSuccess()) {
                        failed("publish " + seq + ": " + (e != null ? e : r));
                    }
                    p.window.release();
                });
        f.inCallNanos += System.nanoTime() - t0;
        p.ackDelivered(this, f);
    }
}
