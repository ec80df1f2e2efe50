package io.durablemq.bench.load;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Sends the messages of some publishers at their intended times ({@link SendSchedule}), in
 * intended-time order, from the calling thread. One pacer for all publishers
 * ({@link Pacing#SCHEDULER}) or one per publisher ({@link Pacing#THREADS}). A message whose time
 * has passed (the pacer woke late or a send blocked) is sent at once, still stamped with its
 * intended time, so the lateness counts as latency instead of being omitted.
 */
final class Pacer {

    /** The time source and the wait, so tests can drive the pacer with a fake clock. */
    interface Clock {
        long nanoTime();

        void parkNanos(long nanos);

        Clock SYSTEM = new Clock() {
            @Override
            public long nanoTime() {
                return System.nanoTime();
            }

            @Override
            public void parkNanos(long nanos) {
                java.util.concurrent.locks.LockSupport.parkNanos(nanos);
            }
        };
    }

    /** Sends one message; returns false to stop the pacer (the run is stopping). */
    interface Sender {
        boolean send(int publisher, long sequence, long intendedNanos) throws InterruptedException;
    }

    /** Longest single park, so a stop request is seen within this time. */
    static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private final SendSchedule schedule;
    private final int[] publishers;
    private final long limitPerPublisher;
    private final long spinNanos;
    private final Clock clock;
    private final BooleanSupplier stop;

    /**
     * @param publishers        the publishers this pacer sends for, in ascending order
     * @param limitPerPublisher messages per publisher, then the pacer returns
     * @param spinNanos         the last part of each wait is spent spinning instead of parked
     *                          (0: parked all the way; the kernel's timer slack then makes a
     *                          wake-up some 50-100 µs late)
     */
    Pacer(SendSchedule schedule, int[] publishers, long limitPerPublisher, long spinNanos, Clock clock,
          BooleanSupplier stop) {
        if (publishers.length == 0 || limitPerPublisher < 0 || spinNanos < 0) {
            throw new IllegalArgumentException("a pacer needs publishers, a count and a spin time >= 0");
        }
        this.schedule = schedule;
        this.publishers = publishers.clone();
        this.limitPerPublisher = limitPerPublisher;
        this.spinNanos = spinNanos;
        this.clock = clock;
        this.stop = stop;
    }

    /** Paces until every publisher has sent its limit (returns true) or a stop (false). */
    boolean run(Sender sender) throws InterruptedException {
        for (long sequence = 0; sequence < limitPerPublisher; sequence++) {
            for (int publisher : publishers) {
                long intended = schedule.intendedNanos(publisher, sequence);
                if (!waitUntil(intended) || !sender.send(publisher, sequence, intended)) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Waits until {@code intended} (not at all if it has passed); false if stopped meanwhile. */
    private boolean waitUntil(long intended) {
        long wait;
        while ((wait = intended - clock.nanoTime()) > spinNanos) {
            if (stop.getAsBoolean()) {
                return false;
            }
            clock.parkNanos(Math.min(wait - spinNanos, MAX_PARK_NANOS));
        }
        while (intended - clock.nanoTime() > 0) {
            Thread.onSpinWait();
        }
        return !stop.getAsBoolean();
    }
}
