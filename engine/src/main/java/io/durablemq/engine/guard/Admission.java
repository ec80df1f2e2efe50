package io.durablemq.engine.guard;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Whether the broker takes new QoS 1/2 publishes at all: the broker-wide queue budget
 * ({@link QueueBudget}) and the heap guard ({@link HeapGuard}). A refused publish is answered
 * with the protocol's quota answer by the broker, counted in
 * {@code durablemq_publishes_refused_total{reason}}, and logged at most every 10 s (plus one
 * line when refusing starts and ends); {@code durablemq_publishes_refusing{reason}} is 1 while
 * refusing, and the broker's {@code /ready} answers 503 meanwhile.
 */
public final class Admission implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Admission.class);
    private static final long LOG_EVERY_NANOS = 10_000_000_000L;

    /** Why a publish was refused; the label of the metrics. */
    public enum Refusal {
        BUDGET("budget"), HEAP("heap");

        public final String label;

        Refusal(String label) {
            this.label = label;
        }
    }

    private final QueueBudget budget;
    private final HeapGuard heap; // null when off
    private final LongSupplier queuedBytes;
    private final Map<Refusal, Counter> refused = new EnumMap<>(Refusal.class);
    private QueueBudget.State budgetSeen = QueueBudget.State.ACCEPTING;
    private long refusedSinceLog;
    private long lastLogNanos = System.nanoTime() - LOG_EVERY_NANOS;

    Admission(QueueBudget budget, HeapGuard heap, MeterRegistry meters, LongSupplier queuedBytes) {
        this.budget = budget;
        this.heap = heap;
        this.queuedBytes = queuedBytes;
        for (Refusal r : Refusal.values()) {
            refused.put(r, Counter.builder("durablemq.publishes.refused").tag("reason", r.label)
                    .description("New QoS 1/2 publishes refused for the whole broker (quota answer): queue budget"
                            + " (max_total_queued_bytes) or heap guard").register(meters));
        }
        Gauge.builder("durablemq.publishes.refusing", this, a -> a.budgetRefusing() ? 1 : 0).tag("reason", "budget")
                .description("1 while new QoS 1/2 publishes are refused, by reason").strongReference(true).register(meters);
        Gauge.builder("durablemq.publishes.refusing", this, a -> a.heapRefusing() ? 1 : 0).tag("reason", "heap")
                .description("1 while new QoS 1/2 publishes are refused, by reason").strongReference(true).register(meters);
        Gauge.builder("durablemq.queue.budget", budget, b -> b.isUnlimited() ? Double.POSITIVE_INFINITY : b.maxBytes())
                .baseUnit("bytes").description("Broker-wide budget of queued bytes (max_total_queued_bytes)")
                .strongReference(true).register(meters);
        Gauge.builder("durablemq.heap.after.gc", this, a -> a.heap == null ? Double.NaN : a.heap.lastRatio())
                .baseUnit("ratio").description("Heap in use after the last garbage collection (of any kind: after a young"
                        + " one it includes old garbage not collected yet) over the maximum heap")
                .strongReference(true).register(meters);
    }

    /** Resolves the budget (free disk for AUTO) and starts the heap guard. */
    public static Admission start(AdmissionSettings settings, Path dataPath, MeterRegistry meters,
                                  LongSupplier queuedBytes) {
        QueueBudget budget = new QueueBudget(settings.resolveBudget(dataPath));
        HeapGuard heap = settings.heapGuardFraction() == AdmissionSettings.HEAP_GUARD_OFF ? null
                : HeapGuard.start(settings.heapGuardFraction());
        return new Admission(budget, heap, meters, queuedBytes);
    }

    /**
     * Called under the engine's lock for every new QoS 1/2 publish (not for QoS 2 resends the
     * engine recognises): null to route it, or why it is refused (counted and logged here).
     */
    public Refusal check(long queuedNow, long incomingBytes) {
        Refusal r = null;
        if (heap != null && heap.isRefusing()) {
            r = Refusal.HEAP;
        } else if (!budget.admit(queuedNow, incomingBytes)) {
            r = Refusal.BUDGET;
        }
        observeBudget(budget.update(queuedNow), queuedNow);
        if (r != null) {
            refused.get(r).increment();
            logThrottled(r, queuedNow);
        }
        return r;
    }

    /** True while new QoS 1/2 publishes are refused (the broker's readiness). */
    public boolean isRefusing() {
        return heapRefusing() || budgetRefusing();
    }

    private boolean heapRefusing() {
        return heap != null && heap.isRefusing();
    }

    private boolean budgetRefusing() {
        if (budget.isUnlimited()) {
            return false;
        }
        long queued = queuedBytes.getAsLong();
        QueueBudget.State s = budget.update(queued);
        observeBudget(s, queued);
        return s == QueueBudget.State.REFUSING;
    }

    /**
     * Periodic: lets a drained budget resume without waiting for a publish, and lets the heap guard
     * end a suspicion whose window passed and ask for the full collection it wants ({@link HeapGuard#tick}).
     */
    public void sample() {
        budgetRefusing();
        if (heap != null) {
            heap.tick();
        }
    }

    public QueueBudget budget() {
        return budget;
    }

    private synchronized void observeBudget(QueueBudget.State now, long queued) {
        if (now == budgetSeen) {
            return;
        }
        budgetSeen = now;
        if (now == QueueBudget.State.REFUSING) {
            log.warn("queued bytes {} past the broker-wide budget of {} (max_total_queued_bytes): refusing new QoS 1/2"
                    + " publishes until the queues drain to {}", queued, budget.maxBytes(), budget.resumeAtOrBelow());
        } else {
            log.warn("queued bytes down to {} (budget {}): accepting publishes again", queued, budget.maxBytes());
        }
    }

    private synchronized void logThrottled(Refusal r, long queued) {
        refusedSinceLog++;
        long now = System.nanoTime();
        if (now - lastLogNanos >= LOG_EVERY_NANOS) {
            log.warn("refused {} new QoS 1/2 publish(es) since the last such line (now: {}; queued bytes {}, budget {},"
                            + " heap after GC {})", refusedSinceLog, r == Refusal.HEAP ? "heap guard" : "queue budget",
                    queued, budget.isUnlimited() ? "unlimited" : budget.maxBytes(),
                    heap == null ? "unguarded" : Double.isNaN(heap.lastRatio()) ? "not measured yet"
                            : Math.round(heap.lastRatio() * 100) + "%");
            refusedSinceLog = 0;
            lastLogNanos = now;
        }
    }

    @Override
    public void close() {
        if (heap != null) {
            heap.close();
        }
    }
}
