package io.durablemq.bench.report;

import org.HdrHistogram.Histogram;

import java.util.List;

/**
 * What one load run measured; written as JSON ({@code --json}) and read back by the comparison.
 * Latencies are in milliseconds; rates in messages per second.
 */
public record LoadReport(String tool, String label, String startedAt, String broker, String scenario,
                         int mqttVersion, int qos, int payloadBytes, int publishers, int subscribers,
                         int window, int ioThreads, long rateLimit, double warmupSeconds, double durationSeconds,
                         long countPerPublisher, Results results, Latency latencyMillis, Backlog backlog,
                         List<String> errors, SendPacing sendPacing, String callbackThread) {

    public static final String TOOL = "durablemq-loadgen";

    /**
     * @param publishSeconds        measured publishing time (after warmup, until publishing stopped)
     * @param publishStoppedBy      "duration", "count" or "time-limit" (count not reached in time)
     * @param deliveryWait          "complete", "idle-timeout" or "drain-timeout"
     * @param sent                  publishes issued (warmup included)
     * @param acknowledged          publishes the broker acknowledged (QoS 0: written)
     * @param publishErrors         publishes that failed or were refused
     * @param expected              deliveries owed to subscribers for acknowledged publishes
     * @param received              distinct deliveries
     * @param lost                  expected deliveries never received
     * @param duplicates            deliveries of a message the subscriber already had
     * @param unexpected            deliveries of our messages to a subscriber that should not get them
     * @param sentPerSecond         measured publishes issued per second
     * @param acknowledgedPerSecond measured acknowledgements per second
     * @param receivedPerSecond     measured distinct deliveries per second (all subscribers together;
     *                              for backlog, during the drain)
     */
    public record Results(double publishSeconds, String publishStoppedBy, String deliveryWait, long sent,
                          long acknowledged, long publishErrors, long expected, long received, long lost,
                          long duplicates, long unexpected, double sentPerSecond, double acknowledgedPerSecond,
                          double receivedPerSecond) {
    }

    /** End-to-end latency (publish call to delivery) of measured, first deliveries. */
    public record Latency(long count, double p50, double p90, double p99, double p999, double max, double mean) {

        public static Latency of(Histogram nanos) {
            if (nanos.getTotalCount() == 0) {
                return new Latency(0, 0, 0, 0, 0, 0, 0);
            }
            return new Latency(nanos.getTotalCount(),
                    ms(nanos.getValueAtPercentile(50)), ms(nanos.getValueAtPercentile(90)),
                    ms(nanos.getValueAtPercentile(99)), ms(nanos.getValueAtPercentile(99.9)),
                    ms(nanos.getMaxValue()), round(nanos.getMean() / 1e6));
        }

        private static double ms(long nanos) {
            return round(nanos / 1e6);
        }

        private static double round(double millis) {
            return Math.round(millis * 1000.0) / 1000.0;
        }
    }

    /**
     * How a rate-limited run paced its sends (null without a rate; reports before s21 have none).
     *
     * @param pacing        "scheduler" (one pacer thread) or "threads" (one per publisher)
     * @param phase         "staggered" (publishers in turn) or "aligned" (all at once)
     * @param spinMicros    the last part of each wait spent spinning
     * @param sendLagMillis how late the tool sent measured messages after their intended times; the
     *                      latency above is clocked from the intended time and so includes it
     */
    public record SendPacing(String pacing, String phase, long spinMicros, Latency sendLagMillis) {
    }

    /**
     * @param queued         messages published while the subscribers were offline (acknowledged)
     * @param drainSeconds   from the subscribers' reconnect to the last delivery
     * @param drainPerSecond distinct deliveries per second during the drain
     */
    public record Backlog(long queued, double drainSeconds, double drainPerSecond) {
    }
}
