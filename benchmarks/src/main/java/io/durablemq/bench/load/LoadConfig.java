package io.durablemq.bench.load;

import java.nio.file.Path;
import java.time.Duration;

/**
 * One load run, fully resolved and checked.
 *
 * @param broker         where to connect
 * @param scenario       who publishes to whom
 * @param mqttVersion    3 (3.1.1) or 5
 * @param qos            publish and subscription QoS
 * @param payloadBytes   bytes per message, at least {@link Payloads#HEADER_BYTES}
 * @param publishers     publishing clients
 * @param subscribers    subscribing clients
 * @param window         unacknowledged publishes allowed per publisher
 * @param rate           target total publish rate in messages/s, 0 = as fast as the window allows
 * @param warmup         publishing time excluded from rates and latencies
 * @param duration       measured publishing time; with a count, the time limit
 * @param count          messages per publisher, 0 = publish for {@code duration}
 * @param drainTimeout   longest wait for acks and deliveries after publishing stops
 * @param idleTimeout    stop waiting for deliveries after this long without one
 * @param ioThreads      network threads shared by all the generator's clients
 * @param label          free text copied into the report (e.g. "mosquitto")
 * @param json           report file, or null
 * @param pacing         which threads wait for the intended send times (with a rate)
 * @param phase          publishers in turn or all at once (with a rate)
 * @param spinNanos      the last part of each pacing wait spent spinning (0 = parked all the way)
 * @param callbacks      where the client runs delivery and acknowledgement callbacks
 */
public record LoadConfig(BrokerUrl broker, Scenario scenario, int mqttVersion, int qos, int payloadBytes,
                         int publishers, int subscribers, int window, long rate, Duration warmup,
                         Duration duration, long count, Duration drainTimeout, Duration idleTimeout,
                         int ioThreads, String label, Path json, Pacing pacing, Phase phase, long spinNanos,
                         CallbackThread callbacks) {

    public static final long MAX_COUNT_PER_PUBLISHER = Integer.MAX_VALUE;
    public static final Pacing DEFAULT_PACING = Pacing.THREADS;
    public static final Phase DEFAULT_PHASE = Phase.STAGGERED;
    public static final CallbackThread DEFAULT_CALLBACKS = CallbackThread.IO;

    /** A run with the default pacing, phase and callback thread, and no spinning. */
    public LoadConfig(BrokerUrl broker, Scenario scenario, int mqttVersion, int qos, int payloadBytes,
                      int publishers, int subscribers, int window, long rate, Duration warmup,
                      Duration duration, long count, Duration drainTimeout, Duration idleTimeout,
                      int ioThreads, String label, Path json) {
        this(broker, scenario, mqttVersion, qos, payloadBytes, publishers, subscribers, window, rate, warmup, duration,
                count, drainTimeout, idleTimeout, ioThreads, label, json, DEFAULT_PACING, DEFAULT_PHASE, 0,
                DEFAULT_CALLBACKS);
    }

    public LoadConfig {
        check(mqttVersion == 3 || mqttVersion == 5, "MQTT version must be 3 or 5: " + mqttVersion);
        check(qos >= 0 && qos <= 2, "qos must be 0, 1 or 2: " + qos);
        check(payloadBytes >= Payloads.HEADER_BYTES && payloadBytes <= 256 * 1024 * 1024,
                "payload must be " + Payloads.HEADER_BYTES + " bytes (timestamp and sequence) up to 256 MiB: " + payloadBytes);
        check(publishers >= 1 && publishers <= 10_000, "publishers must be 1..10000: " + publishers);
        check(subscribers >= 1 && subscribers <= 10_000, "subscribers must be 1..10000: " + subscribers);
        check(window >= 1 && window <= 65_535, "window must be 1..65535: " + window);
        check(rate >= 0, "rate must not be negative: " + rate);
        check(!warmup.isNegative(), "warmup must not be negative");
        check(!duration.isNegative() && !duration.isZero(), "duration must be positive");
        check(count >= 0 && count <= MAX_COUNT_PER_PUBLISHER, "count must be 0.." + MAX_COUNT_PER_PUBLISHER + ": " + count);
        check(!drainTimeout.isNegative() && !idleTimeout.isNegative(), "timeouts must not be negative");
        check(ioThreads >= 1 && ioThreads <= 64, "io threads must be 1..64: " + ioThreads);
        check(pacing != null && phase != null && callbacks != null, "pacing, phase and callback thread must be set");
        check(spinNanos >= 0 && spinNanos <= 10_000_000, "spin must be 0..10 ms: " + spinNanos + " ns");
        scenario.checkShape(publishers, subscribers);
        if (scenario == Scenario.BACKLOG) {
            check(count > 0, "backlog needs --count (messages per publisher to queue while the subscribers are offline)");
            check(qos > 0, "backlog needs QoS 1 or 2: brokers may drop QoS 0 messages for offline sessions");
            check(warmup.isZero(), "backlog has no warmup: every queued message is part of the drain");
        }
        label = label == null ? "" : label;
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** The intended send times of a rate-limited run starting at {@code startNanos}. */
    public SendSchedule schedule(long startNanos) {
        if (rate == 0) {
            throw new IllegalStateException("no schedule without --rate");
        }
        return new SendSchedule(startNanos, rate, publishers, phase);
    }
}
