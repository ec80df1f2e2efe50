package io.durablemq.broker.config;

import java.time.Duration;
import java.util.Objects;

/**
 * When the broker slows a publisher down for a slow online subscriber (see mqtt-adapter/README.md,
 * "Back-pressure"). A publisher stops being read once a publish of its was queued for an online
 * session holding {@code highWatermark} or more queued messages, and is read again once that
 * session holds fewer than {@code lowWatermark}, goes offline, or {@code maxPause} has passed.
 *
 * @param highWatermark queued messages of an online subscriber that pause its publishers
 *                      ({@code backpressure_high_watermark}); 0 = back-pressure off
 * @param lowWatermark  below this many the paused publishers resume ({@code backpressure_low_watermark})
 * @param maxPause      longest one pause lasts, so that two clients that each wait on the other
 *                      still make progress ({@code backpressure_max_pause_ms})
 */
public record BackpressureLimits(int highWatermark, int lowWatermark, Duration maxPause) {
    public static final BackpressureLimits DEFAULTS = new BackpressureLimits(1_000, 500, Duration.ofSeconds(1));
    public static final BackpressureLimits OFF = new BackpressureLimits(0, 0, Duration.ofSeconds(1));

    public BackpressureLimits {
        Objects.requireNonNull(maxPause, "maxPause");
        if (highWatermark < 0) {
            throw new IllegalArgumentException("backpressure_high_watermark must not be negative: " + highWatermark);
        }
        if (highWatermark > 0 && (lowWatermark < 0 || lowWatermark >= highWatermark)) {
            throw new IllegalArgumentException("backpressure_low_watermark must be 0.." + (highWatermark - 1)
                    + " (below backpressure_high_watermark " + highWatermark + "): " + lowWatermark);
        }
        if (maxPause.isNegative() || maxPause.isZero()) {
            throw new IllegalArgumentException("backpressure_max_pause_ms must be positive: " + maxPause.toMillis());
        }
    }

    public boolean enabled() {
        return highWatermark > 0;
    }
}
