package io.durablemq.bench.load;

import java.util.Locale;

/**
 * Which threads wait for the intended send times under {@code --rate}. Either way every message
 * is stamped with its intended send time, so a late send counts as latency.
 */
public enum Pacing {
    /**
     * One pacer thread sends every publisher's messages in intended-time order. On a CPU shared
     * with other work it was late more often than sixteen threads (RESULTS.md, s21): when it
     * waits for a CPU, every publisher waits.
     */
    SCHEDULER("scheduler"),
    /** One thread per publisher, each parked until its own next intended send time (the default; the tool before s21 too). */
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
