package io.durablemq.bench.load;

/**
 * Which threads wait for the intended send times under {@code --rate}. Either way every message
 * is stamped with its intended send time, so a late send counts as latency.
 */
public enum Pacing implements OptionId {
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

    @Override
    public String id() {
        return id;
    }

    public static Pacing parse(String text) {
        return OptionId.parse(values(), text, "pacing");
    }

    @Override
    public String toString() {
        return id;
    }
}
