package io.durablemq.bench.load;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * End-to-end latencies in nanoseconds: recorded concurrently by subscriber threads, read by
 * one reader (the progress printer, then the final report) interval by interval.
 */
public final class LatencyStats {

    private static final int SIGNIFICANT_DIGITS = 3;

    private final Recorder recorder = new Recorder(SIGNIFICANT_DIGITS);
    private final Histogram total = new Histogram(SIGNIFICANT_DIGITS);
    private Histogram recycled;

    public void record(long nanos) {
        recorder.recordValue(Math.max(0, nanos));
    }

    /** Latencies recorded since the previous call; they are also added to the total. */
    public synchronized Histogram interval() {
        Histogram interval = recorder.getIntervalHistogram(recycled);
        total.add(interval);
        recycled = interval;
        return interval.copy();
    }

    /** Everything recorded so far (takes the pending interval first). */
    public synchronized Histogram total() {
        interval();
        return total.copy();
    }
}
