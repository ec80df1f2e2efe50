package io.durablemq.broker.protocol;

import java.util.concurrent.atomic.AtomicLong;

/** Lets a log line through at most once per interval, so a flood of bad clients cannot flood the log. */
final class LogThrottle {
    private final long intervalNanos;
    private final AtomicLong next = new AtomicLong(Long.MIN_VALUE);

    LogThrottle(long intervalMillis) {
        this.intervalNanos = intervalMillis * 1_000_000L;
    }

    boolean tryAcquire() {
        long now = System.nanoTime();
        long due = next.get();
        return (due == Long.MIN_VALUE || now - due >= 0) && next.compareAndSet(due, now + intervalNanos);
    }
}
