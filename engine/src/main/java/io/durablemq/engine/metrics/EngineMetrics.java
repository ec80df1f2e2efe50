package io.durablemq.engine.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The engine's meters. Labelled series the engine knows of are registered up front so that
 * dashboards and alerts see zeros rather than gaps. Gauges hold their state strongly:
 * Micrometer's default weak reference let them turn to NaN after a garbage collection.
 */
public final class EngineMetrics {
    /** Every reason the engine drops or refuses a message for. */
    public static final String[] DROP_REASONS = {
            "queue_full", "queue_full_evicted", "quota_exceeded", "expired", "qos0_offline",
            "no_subscribers", "packet_too_large", "session_expired", "session_discarded", "not_authorized"};

    private final MeterRegistry registry;
    private final Counter[] received = new Counter[3];
    private final Counter[] delivered = new Counter[3];
    private final Counter[] acknowledged = new Counter[3];
    private final Counter redelivered;
    private final Counter duplicatesSuppressed;
    private final Counter commitFailures;
    /** Durable batches whose completions the committer's writer ran itself (no hand-off), and those the completion thread ran. */
    private final Counter completedOnWriter;
    private final Counter completedOnCompletionThread;
    private final Counter bodiesReadAhead;
    private final Counter bodiesReadAtSend;
    /** Every place where the engine catches a bug of its own or of a callback instead of dying. */
    public static final String[] INTERNAL_ERROR_PLACES = {"commit_completion", "send", "operation"};
    private final Map<String, Counter> internalErrors = new ConcurrentHashMap<>();
    private final Map<String, Counter> dropped = new ConcurrentHashMap<>();
    private final DistributionSummary batchSize;
    private final Timer commitLatency;
    private final Timer deliveryLatency;
    private final AtomicLong recoveryNanos = new AtomicLong();

    public EngineMetrics(MeterRegistry registry, EngineStats stats) {
        this.registry = registry;
        for (int q = 0; q <= 2; q++) {
            String qos = Integer.toString(q);
            received[q] = Counter.builder("durablemq.messages.received").tag("qos", qos)
                    .description("PUBLISH messages received from clients").register(registry);
            delivered[q] = Counter.builder("durablemq.messages.delivered").tag("qos", qos)
                    .description("PUBLISH messages sent to subscribers (first attempts), by delivered QoS").register(registry);
            acknowledged[q] = Counter.builder("durablemq.messages.acknowledged").tag("qos", qos)
                    .description("Outbound messages whose handshake completed (QoS 0 counts at send)").register(registry);
        }
        redelivered = Counter.builder("durablemq.messages.redelivered")
                .description("PUBLISH messages resent with DUP=1").register(registry);
        duplicatesSuppressed = Counter.builder("durablemq.qos2.duplicates.suppressed")
                .description("QoS 2 resends of a packet id already received, not routed again").register(registry);
        commitFailures = Counter.builder("durablemq.commit.failures")
                .description("Store writes that failed; nothing in them was acknowledged").register(registry);
        completedOnWriter = Counter.builder("durablemq.commit.completed.batches").tag("by", "writer")
                .description("Durable batches whose completions the committer's writer ran itself, or that the commit"
                        + " completion thread ran (completion_thread)").register(registry);
        completedOnCompletionThread = Counter.builder("durablemq.commit.completed.batches").tag("by", "completion_thread")
                .description("Durable batches whose completions the committer's writer ran itself, or that the commit"
                        + " completion thread ran (completion_thread)").register(registry);
        bodiesReadAhead = Counter.builder("durablemq.body.reads").tag("where", "read_ahead")
                .description("Message bodies read from the store for delivery: with their queue page on the read-ahead"
                        + " thread (read_ahead), or one by one by the send on the sending thread (send)").register(registry);
        bodiesReadAtSend = Counter.builder("durablemq.body.reads").tag("where", "send")
                .description("Message bodies read from the store for delivery: with their queue page on the read-ahead"
                        + " thread (read_ahead), or one by one by the send on the sending thread (send)").register(registry);
        for (String r : DROP_REASONS) {
            dropCounter(r);
        }
        for (String w : INTERNAL_ERROR_PLACES) {
            internalErrorCounter(w);
        }
        batchSize = DistributionSummary.builder("durablemq.commit.batch.size")
                .description("Writes per group commit").register(registry);
        commitLatency = Timer.builder("durablemq.commit.latency")
                .description("Time of one group commit (RocksDB write, fsync in fsync mode)")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(50_000))
                .maximumExpectedValue(Duration.ofSeconds(10)).register(registry);
        deliveryLatency = Timer.builder("durablemq.delivery.latency")
                .description("PUBLISH received to the subscriber's final acknowledgement")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(100_000))
                .maximumExpectedValue(Duration.ofSeconds(60)).register(registry);
        Gauge.builder("durablemq.queue.messages", stats, EngineStats::queuedMessages)
                .description("Messages queued for sessions (not yet in flight)").strongReference(true).register(registry);
        Gauge.builder("durablemq.queue", stats, EngineStats::queuedBytes).baseUnit("bytes")
                .description("Bytes of messages queued for sessions").strongReference(true).register(registry);
        Gauge.builder("durablemq.inflight.messages", stats, EngineStats::inflightMessages)
                .description("Outbound QoS 1/2 messages awaiting acknowledgement").strongReference(true).register(registry);
        Gauge.builder("durablemq.sessions", stats, EngineStats::onlineSessions).tag("state", "online")
                .description("Sessions by state").strongReference(true).register(registry);
        Gauge.builder("durablemq.sessions", stats, EngineStats::offlineSessions).tag("state", "offline")
                .description("Sessions by state").strongReference(true).register(registry);
        Gauge.builder("durablemq.stored.messages", stats, EngineStats::storedBodies)
                .description("Message bodies in the store").strongReference(true).register(registry);
        Gauge.builder("durablemq.retained.messages", stats, EngineStats::retainedMessages)
                .description("Retained messages").strongReference(true).register(registry);
        Gauge.builder("durablemq.store.size", stats, EngineStats::storeSizeBytes).baseUnit("bytes")
                .description("Bytes of the data folder on disk").strongReference(true).register(registry);
        Gauge.builder("durablemq.recovery.duration", recoveryNanos, n -> n.get() / 1e9).baseUnit("seconds")
                .description("Time the last start spent recovering state from the store").strongReference(true).register(registry);
    }

    private Counter dropCounter(String reason) {
        return dropped.computeIfAbsent(reason, r -> Counter.builder("durablemq.messages.dropped").tag("reason", r)
                .description("Messages dropped or refused, by reason").register(registry));
    }

    private Counter internalErrorCounter(String where) {
        return internalErrors.computeIfAbsent(where, w -> Counter.builder("durablemq.internal.errors").tag("where", w)
                .description("Exceptions caught inside the engine (logged at ERROR): a commit completion or a send to a"
                        + " session threw, or an operation failed half way and was rolled back").register(registry));
    }

    /** An exception the engine caught and logged at ERROR in {@code where} (one of INTERNAL_ERROR_PLACES). */
    public void internalError(String where) {
        internalErrorCounter(where).increment();
    }

    public void received(int qos) {
        received[qos].increment();
    }

    public void delivered(int qos) {
        delivered[qos].increment();
    }

    public void acknowledged(int qos, long latencyMillis) {
        acknowledged[qos].increment();
        if (qos > 0 && latencyMillis >= 0) {
            deliveryLatency.record(latencyMillis, TimeUnit.MILLISECONDS);
        }
    }

    /** Bodies read from the store for delivery, with a queue page (read ahead) or by a send. */
    public void bodiesRead(boolean readAhead, int count) {
        (readAhead ? bodiesReadAhead : bodiesReadAtSend).increment(count);
    }

    public void redelivered() {
        redelivered.increment();
    }

    public void duplicateSuppressed() {
        duplicatesSuppressed.increment();
    }

    public void dropped(String reason) {
        dropCounter(reason).increment();
    }

    public void committed(int writes, long nanos) {
        batchSize.record(writes);
        commitLatency.record(nanos, TimeUnit.NANOSECONDS);
    }

    public void completionsRunBy(boolean onWriter) {
        (onWriter ? completedOnWriter : completedOnCompletionThread).increment();
    }

    public void commitFailed() {
        commitFailures.increment();
    }

    public void recovered(long nanos) {
        recoveryNanos.set(nanos);
    }
}
