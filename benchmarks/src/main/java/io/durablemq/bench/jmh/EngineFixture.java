package io.durablemq.bench.jmh;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * An engine on a fresh store plus a few single-threaded executors standing in for the
 * broker's network event loops: completions and listener calls hop to them, as in the broker,
 * so no benchmark does its follow-up work on the committer thread.
 */
final class EngineFixture implements AutoCloseable {

    static final long TIMEOUT_SECONDS = 120;
    static final int FILL_WINDOW = 2_000;
    private static final int EVENT_LOOPS = 2;

    final Path dir;
    final EngineConfig config;
    final Engine engine;
    /** The engine's meters (commit count and latency, messages routed): benchmarks read figures from it. */
    final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private final ExecutorService[] loops = new ExecutorService[EVENT_LOOPS];

    private EngineFixture(Path dir, EngineConfig config) throws Exception {
        this.dir = dir;
        this.config = config;
        this.engine = Engine.open(config, meters);
        for (int i = 0; i < loops.length; i++) {
            int n = i;
            loops[i] = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "bench-loop-" + n);
                t.setDaemon(true);
                return t;
            });
        }
    }

    /** A new store in a scratch folder; queues effectively unbounded unless the caller narrows them. */
    static EngineFixture open(String name, Durability durability) throws Exception {
        return open(name, durability, Function.identity());
    }

    static EngineFixture open(String name, Durability durability, Function<EngineConfig, EngineConfig> tune) throws Exception {
        Path dir = BenchDirs.create(name);
        // No broker-wide budget or heap guard: a fixture that fills queues in a small benchmark heap
        // (RecoveryBenchmark: 1,000,000 messages in -Xmx256m) must not have publishes refused
        // silently, which would change what is measured.
        EngineConfig config = tune.apply(EngineConfig.defaults(dir).withDurability(durability)
                .withAdmission(io.durablemq.engine.guard.AdmissionSettings.off()));
        return new EngineFixture(dir, config);
    }

    /** An engine on an existing store (one built by {@code fill.BulkBacklogStore}, say), with the fixture's settings. */
    static EngineFixture openExisting(Path dir, Durability durability) throws Exception {
        return new EngineFixture(dir, EngineConfig.defaults(dir).withDurability(durability)
                .withAdmission(io.durablemq.engine.guard.AdmissionSettings.off()));
    }

    /**
     * Queues {@code messages} QoS 1 messages of {@code payloadBytes} round robin over
     * {@code sessions} new offline persistent sessions ({@code offline-N}, subscribed to
     * {@code prefix/N}), through the engine's API with a window of {@value #FILL_WINDOW}
     * publishes, and returns the nanoseconds the publishing took. Every message is its own body.
     */
    long fillOfflineQueues(String prefix, long messages, int sessions, int payloadBytes) throws InterruptedException {
        return fillOfflineQueues(prefix, messages, sessions, 1, payloadBytes);
    }

    /**
     * Queues {@code entries} queue entries over {@code sessions} new offline persistent sessions,
     * each published message reaching {@code fanOut} of them: session N subscribes to
     * {@code prefix/(N mod groups)} with {@code groups = sessions / fanOut}, and
     * {@code entries / fanOut} messages are published round robin over the groups' topics, so
     * {@code entries} entries share {@code entries / fanOut} bodies (fan-out 1: every entry its
     * own body). The publish window holds about {@code 10 x }{@value #FILL_WINDOW} entries
     * whatever the fan-out, so the batches being written (whose entries stay in memory until they
     * are readable in the store) fit a small benchmark heap.
     */
    long fillOfflineQueues(String prefix, long entries, int sessions, int fanOut, int payloadBytes) throws InterruptedException {
        if (fanOut < 1 || sessions % fanOut != 0 || entries % fanOut != 0) {
            throw new IllegalArgumentException("fanOut " + fanOut + " must divide sessions (" + sessions
                    + ") and entries (" + entries + ")");
        }
        int groups = sessions / fanOut;
        long messages = entries / fanOut;
        int windowSize = Math.max(2, Math.min(FILL_WINDOW, FILL_WINDOW * 10 / fanOut));
        for (int s = 0; s < sessions; s++) {
            SessionHandle h = connect("offline-" + s, true, AckingSubscriber.ignoring());
            subscribe(h, prefix + "/" + (s % groups), 1);
            join(h.disconnect(-1));
        }
        SessionHandle publisher = connect("pub", false, AckingSubscriber.ignoring());
        java.util.concurrent.Semaphore window = new java.util.concurrent.Semaphore(windowSize);
        long t0 = System.nanoTime();
        long tenth = Math.max(1, messages / 10);
        for (long i = 0; i < messages; i++) {
            if (i > 0 && i % tenth == 0 && entries >= 10_000_000) { // long fills say how far they are
                System.out.printf("  fill: %,d of %,d entries queued in %.1f s%n", i * fanOut, entries, (System.nanoTime() - t0) / 1e9);
            }
            Windows.acquire(window, 1);
            publisher.publish(Sequences.packetId(i),
                            io.durablemq.engine.message.Message.of(prefix + "/" + (i % groups), Sequences.payload(i, payloadBytes), 1))
                    .whenComplete((r, e) -> window.release());
        }
        Windows.drain(window, windowSize);
        long nanos = System.nanoTime() - t0;
        join(publisher.disconnect(0));
        return nanos;
    }

    ExecutorService loop(int index) {
        return loops[Math.floorMod(index, loops.length)];
    }

    SessionHandle connect(String clientId, boolean persistent, SessionListener listener) {
        ConnectRequest request = new ConnectRequest(clientId, true,
                persistent ? ConnectRequest.NEVER_EXPIRES : 0, 65_535);
        return join(engine.connect(request, listener));
    }

    SessionHandle resume(String clientId, SessionListener listener) {
        return join(engine.connect(new ConnectRequest(clientId, false, ConnectRequest.NEVER_EXPIRES, 65_535), listener));
    }

    static void subscribe(SessionHandle handle, String filter, int qos) {
        join(handle.subscribe(List.of(Subscription.of(filter, qos))));
    }

    static <T> T join(CompletableFuture<T> future) {
        try {
            return future.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (Exception e) {
            throw new IllegalStateException("engine operation failed or timed out: " + e, e);
        }
    }

    /** Closes the engine and the event loops but keeps the store on disk (see {@link #dir}). */
    void closeKeepingStore() {
        for (ExecutorService loop : loops) {
            loop.shutdownNow();
        }
        engine.close();
    }

    @Override
    public void close() {
        closeKeepingStore();
        BenchDirs.delete(dir);
    }
}
