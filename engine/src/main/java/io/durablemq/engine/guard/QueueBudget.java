package io.durablemq.engine.guard;

/**
 * The broker-wide budget of queued bytes, with hysteresis: once past it, new QoS 1/2 publishes
 * are refused until the queued bytes fall to {@link AdmissionSettings#BUDGET_RESUME_FRACTION} of
 * it, so a broker at its budget does not flap between accepting and refusing on every ack.
 * Thread-safe (the engine asks under its lock, readiness probes and gauges from their threads).
 */
public final class QueueBudget {
    /** Whether the budget lets new QoS 1/2 publishes in. */
    public enum State { ACCEPTING, REFUSING }

    private final long maxBytes;
    private final long resumeAtOrBelow;
    private State state = State.ACCEPTING;

    public QueueBudget(long maxBytes) {
        if (maxBytes < 1) {
            throw new IllegalArgumentException("a budget must be positive: " + maxBytes);
        }
        this.maxBytes = maxBytes;
        this.resumeAtOrBelow = maxBytes == AdmissionSettings.UNLIMITED ? maxBytes
                : (long) (maxBytes * AdmissionSettings.BUDGET_RESUME_FRACTION);
    }

    public long maxBytes() {
        return maxBytes;
    }

    public long resumeAtOrBelow() {
        return resumeAtOrBelow;
    }

    public boolean isUnlimited() {
        return maxBytes == AdmissionSettings.UNLIMITED;
    }

    /**
     * May {@code incomingBytes} more be queued on top of {@code queuedBytes}? A refusal while the
     * queues are above the resume mark starts the refusing state; a single message too large to
     * fit into a nearly empty budget is refused without it.
     */
    public synchronized boolean admit(long queuedBytes, long incomingBytes) {
        update(queuedBytes);
        if (state == State.REFUSING) {
            return false;
        }
        if (queuedBytes + incomingBytes <= maxBytes || isUnlimited()) {
            return true;
        }
        if (queuedBytes > resumeAtOrBelow) {
            state = State.REFUSING;
        }
        return false;
    }

    /** The state now, after letting a refusing budget resume if the queues have drained below the mark. */
    public synchronized State update(long queuedBytes) {
        if (state == State.REFUSING && queuedBytes <= resumeAtOrBelow) {
            state = State.ACCEPTING;
        }
        return state;
    }
}
