package io.durablemq.engine.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Where a QoS 1/2 publish's time goes, one histogram per stage:
 * {@code durablemq_publish_stage_seconds{stage}}. The write+fsync stage between batch wait and
 * completion is {@code durablemq_commit_latency_seconds} (one figure per group commit). The
 * publisher's side ends with {@code send} (its PUBACK / PUBREC); the subscriber's side is
 * {@code deliver_wait} and {@code deliver} (its PUBLISH; {@code deliver_total} spans it, from the
 * message taken into the subscriber's window), so a QoS 2 message's path from
 * publisher to subscriber is decode, route, batch_wait, write+fsync, deliver_wait, deliver.
 *
 * <p>The engine records {@code route}, {@code batch_wait}, {@code completion} and
 * {@code deliver_wait}; the broker records {@code decode}, {@code loop_hop}, {@code send},
 * {@code deliver_hop}, {@code deliver} and {@code deliver_total} into the same meters (Micrometer hands back the
 * meter already registered under the same name and tags). Each stage's scope:
 * <ul>
 *   <li>{@code decode}: broker, from the PUBLISH reaching the protocol handler (Netty's MQTT
 *       decoder has already parsed it) to the engine call: alias, topic, ACL checks and the
 *       payload copy. Per message.</li>
 *   <li>{@code route}: engine, time inside route() under the engine lock. Per message.</li>
 *   <li>{@code batch_wait}: committer, from the first append to a batch that something waits for
 *       (the batch becoming ready: an acknowledgement that rides along with the next commit does not
 *       count, {@code Committer.mayWaitForNextCommit}) until that batch starts its write (including the
 *       writer's wait for room when the pipeline holds its maximum of batches in flight). Per batch:
 *       the wait of the batch's oldest such write, an upper bound for every operation in it; counted
 *       once per batch, not once per message; none for a batch of riding acknowledgements alone.</li>
 *   <li>{@code completion}: engine, from the batch becoming durable (its write returned, or the
 *       replicated log's commit) to the publish's future being completed on the commit
 *       completion thread: the completions before it in the batch, and those of earlier batches
 *       still running (pipelined commits), run first. Per message.</li>
 *   <li>{@code loop_hop}: broker, the first part of {@code send}: from that completion to the
 *       acknowledgement's task starting on the connection's event loop (the loop's wake-up and
 *       the tasks and reads queued before it). Per message.</li>
 *   <li>{@code send}: broker, from that completion to the PUBACK / PUBREC write finishing on the
 *       event loop (the hop to the loop, the encode and the socket write). Per message.</li>
 *   <li>{@code deliver_wait}: engine, per QoS 1/2 PUBLISH to a subscriber (resends included):
 *       from the moment the send may go to the send running in the subscriber's outbox and
 *       handing the PUBLISH to its connection ({@code SessionListener.onPublish}). "May go" is
 *       the batch holding the subscriber's in-flight record becoming durable for a send that
 *       waits for its commit (every QoS 2 PUBLISH, resends, a QoS 1 send behind one that waits;
 *       the batch is the publish's own when the window had room), and the send being built
 *       under the lock for an early QoS 1 send. So it holds the completions run before it
 *       (earlier batches', earlier operations' in the batch) or, early, the rest of the
 *       routing operation, and the wait for another thread draining the same outbox.</li>
 *   <li>{@code deliver_hop}: broker, the first part of {@code deliver}: from that hand-off to the
 *       PUBLISH's task starting on the subscriber's event loop. Per message.</li>
 *   <li>{@code deliver}: broker, from that hand-off to the PUBLISH written and flushed to the
 *       subscriber's socket on its event loop (the hop, the encode, the flush, which leaves in
 *       Netty's outbound buffer what a full socket cannot take yet; a PUBLISH not
 *       written, because the connection ended or the message expired, is not counted). Per
 *       message.</li>
 *   <li>{@code deliver_total}: engine and broker, the subscriber's side as a whole: from the
 *       send being built under the lock (the message taken into the subscriber's in-flight
 *       window: while routing the publish when the window has room, else when an
 *       acknowledgement makes room; or a resend) to the PUBLISH flushed, as {@code deliver}.
 *       For a QoS 2 message routed to a window with room it spans the rest of the routing
 *       operation, batch_wait, write+fsync, deliver_wait and deliver of that message, so its
 *       quantiles can be set against the end-to-end latency a client measures. Per
 *       message.</li>
 * </ul>
 * Times are System.nanoTime differences; recording allocates nothing.
 */
public final class StageTimers {
    public static final String NAME = "durablemq.publish.stage";

    /** The stages in the order a publish passes them (write+fsync is the commit latency; the deliver stages follow it, beside completion and send). */
    public enum Stage {
        DECODE("decode"), ROUTE("route"), BATCH_WAIT("batch_wait"), COMPLETION("completion"), LOOP_HOP("loop_hop"),
        SEND("send"), DELIVER_WAIT("deliver_wait"), DELIVER_HOP("deliver_hop"), DELIVER("deliver"),
        DELIVER_TOTAL("deliver_total");

        private final String label;

        Stage(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    private final Map<Stage, Timer> timers = new EnumMap<>(Stage.class);

    /** Registers (or finds, when already registered) every stage's timer, so all show from the start. */
    public StageTimers(MeterRegistry registry) {
        for (Stage s : Stage.values()) {
            timers.put(s, Timer.builder(NAME).tag("stage", s.label())
                    .description("Time a QoS 1/2 publish spends in one stage (write+fsync: durablemq_commit_latency)")
                    .publishPercentileHistogram()
                    // 1 us .. 10 s: route and decode are microseconds, batch waits reach seconds under overload
                    .minimumExpectedValue(Duration.ofNanos(1_000))
                    .maximumExpectedValue(Duration.ofSeconds(10))
                    .register(registry));
        }
    }

    public void record(Stage stage, long nanos) {
        if (nanos >= 0) {
            timers.get(stage).record(nanos, TimeUnit.NANOSECONDS);
        }
    }

    /** The timer of one stage, for tests and reports. */
    public Timer timer(Stage stage) {
        return timers.get(stage);
    }
}
