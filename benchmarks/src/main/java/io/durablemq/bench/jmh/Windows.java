package io.durablemq.bench.jmh;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/** Bounded waits on a benchmark's window of outstanding operations: a stall fails loudly instead of hanging. */
final class Windows {

    private Windows() {
    }

    static void acquire(Semaphore window, int permits) throws InterruptedException {
        if (!window.tryAcquire(permits, EngineFixture.TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no completion within " + EngineFixture.TIMEOUT_SECONDS
                    + " s: the engine stalled or lost a completion");
        }
    }

    /** Waits until every permit is back, i.e. nothing is outstanding, and leaves them free. */
    static void drain(Semaphore window, int size) throws InterruptedException {
        acquire(window, size);
        window.release(size);
    }
}
