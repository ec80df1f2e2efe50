package io.durablemq.engine;

import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.BatchOperation;
import io.durablemq.engine.store.StoreWriteException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Supplier;

/**
 * Runs each engine operation whole or not at all, and answers only once durable: an operation's
 * writes reach the commit batch only if all of it succeeded (collected privately and appended at
 * its end: {@code store.BatchOperation}), a failure hands the image to the reset
 * ({@link ImageReset}), and answers complete from the commit's completion. Every method runs under
 * the engine's lock (the in-memory image is still guarded by it; the write collection no longer
 * needs it: engine/README.md, "Towards partitions").
 */
final class OperationGuard {
    /** Logged as the engine's: operators (and the broker's tests) look for these lines there. */
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    /** What a failed operation hands the engine to: the reset that a failed commit runs. */
    interface ImageReset {
        /** Must hold the partitions the operation touches. Forgets the image and makes operations fail fast; returns the listeners to close. */
        List<SessionListener> dropImage();

        /** Reopens the store and rebuilds the image from it (on the sweeper thread, not under the lock). */
        void resetToDurableState();
    }

    private final EngineState st;
    private final ScheduledExecutorService sweeper;
    /** Set once by the engine's constructor, before any operation runs. */
    private ImageReset reset;

    OperationGuard(EngineState st, ScheduledExecutorService sweeper) {
        this.st = st;
        this.sweeper = sweeper;
    }

    void resetBy(ImageReset reset) {
        this.reset = reset;
    }

    /**
     * Must hold the partitions the operation touches. Runs one operation so that its writes reach the commit batch only if all
     * of it succeeded ({@link Committer#operation()}: the writes and completions are collected
     * privately and appended to the open batch in one critical section at the end). On any
     * Throwable (a bug, an OutOfMemoryError where the JVM was not told to exit on it) they are
     * discarded, so the batch never saw them, its future fails ({@link EngineOperationException}),
     * the error is counted ({@code durablemq_internal_errors_total{where="operation"}}) and the
     * engine rebuilds its in-memory image from the store: see {@link #operationFailed}.
     */
    void guarded(String what, CompletableFuture<?> future, Runnable body) {
        guarded(() -> what, future, body);
    }

    /**
     * Must hold the partitions the operation touches. As {@link #guarded(String, CompletableFuture, Runnable)}, with the
     * operation's description built only if it fails: the hot operations (publish, the acks,
     * PUBREL) do not concatenate a log line under the lock on every call (issue 12, target 4).
     */
    void guarded(Supplier<String> what, CompletableFuture<?> future, Runnable body) {
        BatchOperation op = st.committer.operation();
        try {
            body.run();
            op.succeeded();
        } catch (Throwable e) {
            // The live body count goes back by what this operation counted (the batch carries the count of what it holds).
            st.refs.operationRolledBack(op.putsLessSingleDeletes(io.durablemq.engine.store.StoreColumn.MESSAGES));
            operationFailed(what.get(), op, future, e);
        }
    }

    /**
     * The in-memory changes of a failed operation are not undone piece by piece: an undo list
     * would have to cover every structure an operation touches (queues, reference counts, the
     * body cache and its pins, packet ids, sends already handed to a session's outbox, shared
     * group cursors, retained messages, counters), and one missed change leaves an image that
     * disagrees with the store, which can later delete a body still referenced: a lost message.
     * Rebuilding from the store cannot miss anything. The open batch (the operations before this
     * one, which succeeded) is still committed; the committer is sealed so that nothing built on
     * the broken image follows it; then the reset that a failed commit runs (connections closed,
     * store reopened, recovery) restores an image equal to the store. Errors inside an operation
     * are bugs (an OutOfMemoryError ends the JVM: ops/README.md), so their cost is acceptable.
     */
    private void operationFailed(String what, BatchOperation op, CompletableFuture<?> future, Throwable error) {
        boolean resetStarts = st.resettingStarts(); // once, whichever partitions fail at the same time
        if (resetStarts) {
            // Sealed before the operation's narrow locks are released (op.close): an operation that
            // then takes one of them and sees what this one changed in memory cannot append.
            st.committer.seal();
        }
        try {
            op.close();
        } catch (Throwable rollbackFailed) {
            error.addSuppressed(rollbackFailed);
        }
        st.metrics.internalError("operation");
        log.error("{} failed inside the engine; none of its writes are committed. The engine returns to its last"
                + " durable state (connections close, clients resume)", what, error);
        if (future != null) {
            future.completeExceptionally(new EngineOperationException(what, error));
        }
        if (resetStarts) {
            // Holding every partition (always with one), the image is dropped here, as before partitions;
            // otherwise the sweeper drops it under every partition's lock, and meanwhile every partition's
            // next operation fails fast (resetting) and any append is refused (the committer is sealed).
            boolean holdsAll = st.partitions.locks.holdsAll();
            List<SessionListener> dropped = holdsAll ? reset.dropImage() : List.of();
            try {
                sweeper.execute(() -> {
                    List<SessionListener> toClose = dropped;
                    if (!holdsAll) {
                        try (PartitionLocks.Held all = st.partitions.lockAll()) {
                            toClose = reset.dropImage();
                        }
                    }
                    for (SessionListener l : toClose) {
                        l.onSessionClosed(SessionListener.CloseReason.ENGINE_RESET);
                    }
                    reset.resetToDurableState();
                });
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                log.warn("an operation failed while the engine closes: no reset");
            }
        }
        if (error instanceof VirtualMachineError fatal) {
            throw fatal; // the JVM may not go on safely: the caller decides (the broker exits)
        }
    }

    /** Must hold the partitions the operation touches. Completes {@code future} with {@code value} once everything appended before it is durable. */
    <T> void complete(CompletableFuture<T> future, T value) {
        st.committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                future.complete(value);
            }

            @Override
            public void failed(Throwable cause) {
                future.completeExceptionally(cause);
            }
        });
    }

    /** Must hold the partitions the operation touches. Fails {@code future} and returns true while the engine is closed or resetting. */
    boolean failIfClosed(CompletableFuture<?> future) {
        if (st.closed) {
            future.completeExceptionally(new StoreWriteException("engine is closed", null));
            return true;
        }
        if (st.resetting) {
            future.completeExceptionally(new StoreWriteException(
                    "the store failed a write (disk full?); the engine is returning to its last durable state", null));
            return true;
        }
        return false;
    }
}
