package io.durablemq.engine.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;

import java.util.ArrayList;
import java.util.List;

/**
 * Queue depth of the N sessions with the longest queues, labelled by client id. Only N
 * series exist at a time (rows of sessions that drop out are removed), so a broker with a
 * million sessions does not export a million series.
 */
public final class LargestQueues {
    /** One session's queue, as sampled. */
    public record Sample(String clientId, long messages, long bytes) {
    }

    private final MultiGauge messages;
    private final MultiGauge bytes;

    public LargestQueues(MeterRegistry registry) {
        messages = MultiGauge.builder("durablemq.session.queue.messages")
                .description("Queued messages of the sessions with the longest queues (top N by messages)")
                .register(registry);
        bytes = MultiGauge.builder("durablemq.session.queue").baseUnit("bytes")
                .description("Queued bytes of the sessions with the longest queues (top N by messages)")
                .register(registry);
    }

    /** Replaces the rows with {@code top} (already the N largest). */
    public void update(List<Sample> top) {
        List<MultiGauge.Row<?>> m = new ArrayList<>(top.size());
        List<MultiGauge.Row<?>> b = new ArrayList<>(top.size());
        for (Sample s : top) {
            m.add(MultiGauge.Row.of(Tags.of("client_id", s.clientId()), s.messages()));
            b.add(MultiGauge.Row.of(Tags.of("client_id", s.clientId()), s.bytes()));
        }
        messages.register(m, true);
        bytes.register(b, true);
    }
}
