package io.durablemq.bench.load;

import java.util.Locale;

/**
 * Which threads wait for the intended send times under {@code --rate}. Either way every message
 * is stamped with its intended send time, so a late send counts as latency.
 */
public enum Pacing {
    /** One pacer thread sends every publisher's messages in intended-time order. */
    SCHEDULER("scheduler"),
    /** One thread per publisher, each parked until its own next intended send time (the tool before s21). */
    THREADS("threads");

    private final String id;

    Pacing(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    public static Pacing parse(String text) {
        for (Pacing p : values()) {
            if (p.id.equals(text.trim().toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown pacing '" + text + "': use scheduler or threads");
    }

    @Override
    public String toString() {
        return id;
    }
}
