package io.durablemq.bench.load;

import org.HdrHistogram.Histogram;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/** Prints one line per second while a run is going: rates over the last second and latency. */
final class ProgressPrinter implements AutoCloseable {

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "loadgen-progress");
        t.setDaemon(true);
        return t;
    });
    private final PrintStream out;
    private final long startNanos;
    private final Supplier<String> phase;
    private final LongSupplier sent;
    private final LongSupplier acknowledged;
    private final LongSupplier received;
    private final LongSupplier errors;
    private final LatencyStats latency;
    private long lastSent;
    private long lastAcknowledged;
    private long lastReceived;

    ProgressPrinter(PrintStream out, Supplier<String> phase, LongSupplier sent, LongSupplier acknowledged,
                    LongSupplier received, LongSupplier errors, LatencyStats latency) {
        this.out = out;
        this.startNanos = System.nanoTime();
        this.phase = phase;
        this.sent = sent;
        this.acknowledged = acknowledged;
        this.received = received;
        this.errors = errors;
        this.latency = latency;
    }

    void start() {
        timer.scheduleAtFixedRate(this::printLine, 1, 1, TimeUnit.SECONDS);
    }

    private void printLine() {
        long s = sent.getAsLong();
        long a = acknowledged.getAsLong();
        long r = received.getAsLong();
        Histogram h = latency.interval();
        long e = errors.getAsLong();
        out.println(String.format(Locale.ROOT,
                "[%4ds] %-8s sent %,9d/s  acked %,9d/s  received %,9d/s  latency p50 %8.3f ms  p99 %8.3f ms  in flight %,7d  errors %d",
                (System.nanoTime() - startNanos) / 1_000_000_000L, phase.get(), s - lastSent, a - lastAcknowledged,
                r - lastReceived, h.getValueAtPercentile(50) / 1e6, h.getValueAtPercentile(99) / 1e6,
                Math.max(0, s - a - e), e));
        lastSent = s;
        lastAcknowledged = a;
        lastReceived = r;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
