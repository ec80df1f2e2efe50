package io.durablemq.bench.load;

/**
 * The intended send time of every message of a rate-limited run, from which its latency is
 * clocked (coordinated omission stays counted: a message sent late carries the time it should
 * have left). Message {@code sequence} of publisher {@code publisher} is the run's message
 * number {@code sequence * publishers + publisher}; the run as a whole sends {@code rate}
 * messages per second. Pure arithmetic on {@link System#nanoTime()} values, no clock.
 *
 * @param startNanos the run's start ({@code System.nanoTime()})
 * @param rate       total messages per second, at least 1
 * @param publishers publishing clients, at least 1
 * @param phase      whether the publishers send in turn or all at once
 */
public record SendSchedule(long startNanos, long rate, int publishers, Phase phase) {

    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    public SendSchedule {
        if (rate < 1 || publishers < 1) {
            throw new IllegalArgumentException("rate and publishers must be positive: " + rate + ", " + publishers);
        }
    }

    /** When message {@code sequence} (0, 1, ...) of {@code publisher} should be sent. */
    public long intendedNanos(int publisher, long sequence) {
        if (publisher < 0 || publisher >= publishers || sequence < 0) {
            throw new IllegalArgumentException("no such message: publisher " + publisher + ", sequence " + sequence);
        }
        return switch (phase) {
            // In turn: the run's k-th message leaves k / rate seconds after the start.
            case STAGGERED -> startNanos + offsetNanos(sequence * publishers + publisher);
            // All at once, one interval after the start (as the per-publisher threads always did).
            case ALIGNED -> startNanos + offsetNanos((sequence + 1) * publishers);
        };
    }

    /**
     * {@code k / rate} seconds in nanoseconds, exact to the nanosecond without drift: computed
     * from k each time, never by adding a rounded interval.
     */
    private long offsetNanos(long k) {
        long whole = k / rate;
        long rest = k % rate;
        return whole * NANOS_PER_SECOND + rest * NANOS_PER_SECOND / rate;
    }
}
