package io.durablemq.engine.store;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Holds the writer right after the next write reached the store (and before it decides whether
 * to hand the batch to the completion thread or complete it itself), until the test releases it:
 * so the test can append a write that waits in the open batch, or change what is in flight,
 * at that exact moment. Passes everything else to {@code then} (another fault, or none).
 */
final class HeldWrite implements CommitFaults {
    private final CommitFaults then;
    private volatile CountDownLatch held;
    private volatile CountDownLatch release;

    HeldWrite(CommitFaults then) {
        this.then = then;
    }

    /** The next write, once in the store, holds the writer until {@link #release}. */
    void holdNext() {
        release = new CountDownLatch(1);
        held = new CountDownLatch(1);
    }

    /** Waits until the writer is held; false if it was not within {@code timeout}. */
    boolean awaitHeld(Duration timeout) throws InterruptedException {
        return held.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    void release() {
        release.countDown();
    }

    @Override
    public void beforeWrite(int writes) {
        then.beforeWrite(writes);
    }

    @Override
    public void afterWrite(int writes) {
        then.afterWrite(writes);
        CountDownLatch h = held;
        CountDownLatch r = release;
        if (h == null || h.getCount() == 0) {
            return;
        }
        h.countDown();
        try {
            if (!r.await(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("a held write was never released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
