package io.durablemq.broker.admin;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Online backup meters: {@code durablemq_backups_total{result}} (success, refused, failed),
 * {@code durablemq_backup_last_duration_seconds}, {@code durablemq_backup_last_bytes} and
 * {@code durablemq_backup_last_success_timestamp_seconds} (0 until the first backup; an alert
 * on its age tells an operator the backup job stopped).
 */
public final class BackupMetrics {

    /** How a backup request ended. */
    public enum Result {
        /** A complete copy was written. */
        SUCCESS,
        /** The request was wrong (bad name, existing target, another backup running): nothing written. */
        REFUSED,
        /** The engine could not (closed, resetting after a failed write, I/O error): nothing usable written. */
        FAILED;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final Map<Result, Counter> results = new EnumMap<>(Result.class);
    private final AtomicLong lastNanos = new AtomicLong();
    private final AtomicLong lastBytes = new AtomicLong();
    private final AtomicLong lastSuccessMillis = new AtomicLong();

    public BackupMetrics(MeterRegistry registry) {
        for (Result r : Result.values()) {
            results.put(r, Counter.builder("durablemq.backups").tag("result", r.label())
                    .description("Online backup requests, by result").register(registry));
        }
        Gauge.builder("durablemq.backup.last.duration", lastNanos, n -> n.get() / 1e9).baseUnit("seconds")
                .description("Time the last successful online backup took").strongReference(true).register(registry);
        Gauge.builder("durablemq.backup.last", lastBytes, AtomicLong::get).baseUnit("bytes")
                .description("Size of the last successful online backup (hard-linked files counted in full)")
                .strongReference(true).register(registry);
        Gauge.builder("durablemq.backup.last.success.timestamp", lastSuccessMillis, m -> m.get() / 1e3)
                .baseUnit("seconds").description("Unix time the last successful online backup finished")
                .strongReference(true).register(registry);
    }

    public void succeeded(long nanos, long bytes) {
        lastNanos.set(nanos);
        lastBytes.set(bytes);
        lastSuccessMillis.set(System.currentTimeMillis());
        results.get(Result.SUCCESS).increment();
    }

    public void ended(Result result) {
        results.get(result).increment();
    }
}
