package io.durablemq.engine.support;

import io.durablemq.engine.store.CommitFaults;

import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Throws once, in the middle of routing one message: after the engine queued it for
 * {@code afterQueued} sessions and before the next one (an OutOfMemoryError there once left a
 * half-routed message in the commit batch).
 */
public final class InjectedRoutingFault implements CommitFaults {
    private record Armed(int afterQueued, Supplier<? extends Throwable> fault) {
    }

    private final AtomicReference<Armed> armed = new AtomicReference<>();
    private volatile boolean fired;

    public void arm(int afterQueued, Supplier<? extends Throwable> fault) {
        armed.set(new Armed(afterQueued, fault));
    }

    @Override
    public void routedTo(int queuedSoFar) {
        Armed a = armed.get();
        if (a == null || a.afterQueued() != queuedSoFar || !armed.compareAndSet(a, null)) {
            return;
        }
        fired = true;
        Throwable t = a.fault().get();
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    public boolean fired() {
        return fired;
    }
}
