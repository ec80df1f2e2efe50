package io.durablemq.engine.support;

import io.durablemq.engine.store.CommitFaults;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * A fault the committer throws once, on the next store write after {@link #arm}: before the
 * write (nothing reaches the store) or after it (the batch is in the store, the caller sees an
 * error: the unknown outcome).
 */
public final class InjectedCommitFault implements CommitFaults {
    public enum When { BEFORE_WRITE, AFTER_WRITE }

    private record Armed(When when, Supplier<? extends Throwable> fault) {
    }

    private final AtomicReference<Armed> armed = new AtomicReference<>();
    private final CountDownLatch fired = new CountDownLatch(1);
    private volatile int writesInFailedBatch;

    public void arm(When when, Supplier<? extends Throwable> fault) {
        armed.set(new Armed(when, fault));
    }

    @Override
    public void beforeWrite(int writes) {
        fire(When.BEFORE_WRITE, writes);
    }

    @Override
    public void afterWrite(int writes) {
        fire(When.AFTER_WRITE, writes);
    }

    private void fire(When now, int writes) {
        Armed a = armed.get();
        if (a == null || a.when() != now || !armed.compareAndSet(a, null)) {
            return;
        }
        writesInFailedBatch = writes;
        fired.countDown();
        Throwable t = a.fault().get();
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    public boolean awaitFired(long seconds) throws InterruptedException {
        return fired.await(seconds, TimeUnit.SECONDS);
    }

    public int writesInFailedBatch() {
        return writesInFailedBatch;
    }
}
