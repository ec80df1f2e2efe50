package io.durablemq.engine.store;

import java.util.ArrayList;
import java.util.List;

/**
 * One operation's writes and completions, collected privately ({@link Committer#operation()}) and
 * appended to the {@link Committer}'s open batch in one critical section when the operation
 * {@link #succeeded()}; {@link #close()} without that discards them, and the open batch never saw
 * any of them. So an operation is whole or not at all without a save point held on the shared
 * batch for the operation's whole length, and the caller need not hold any lock of the
 * committer's between the scope's start and its end: a batch boundary can fall only between two
 * operations' appends, never inside one (engine/README.md, "Towards partitions", step 1).
 *
 * <p>While the scope is open, every append the opening thread makes on its committer ({@code put},
 * {@code delete}, {@code singleDelete}, {@code deleteRange}, {@code putOncePerBatch}, {@code putNew},
 * {@code onDurable}) is recorded here in call order instead of reaching the batch, and is replayed
 * in that order by {@link Committer#append}, with the batch's own rules (a fresh put deleted in
 * the same batch writes nothing, a once-per-batch value dropped by a later plain write, ...)
 * applied as it is replayed. Confined to the thread that opened it. A scope opened inside another
 * on the same thread is its child: its records join the parent's when it succeeds, and are
 * dropped alone when it does not.
 */
public final class BatchOperation implements AutoCloseable {
    /** What a recorded write does; replayed by the committer with the matching append. */
    enum Kind { PUT, DELETE, SINGLE_DELETE, DELETE_RANGE, PUT_ONCE_PER_BATCH, PUT_NEW }

    /** One recorded write; a range delete keeps its end in {@code value}. */
    record Write(Kind kind, StoreColumn column, byte[] key, byte[] value) {
    }

    private final Committer committer;
    /** The scope this one was opened in on the same thread, or null. */
    private final BatchOperation parent;
    private final Thread owner = Thread.currentThread();
    final List<Write> writes = new ArrayList<>();
    final List<Committer.Completion> completions = new ArrayList<>();
    private boolean ended;

    BatchOperation(Committer committer, BatchOperation parent) {
        this.committer = committer;
        this.parent = parent;
    }

    void record(Kind kind, StoreColumn column, byte[] key, byte[] value) {
        writes.add(new Write(kind, column, key, value));
    }

    void record(Committer.Completion completion) {
        completions.add(completion);
    }

    /**
     * Keeps the operation: a top-level scope's writes and completions are appended to the open
     * batch in one critical section (whole or not at all: if the append throws, the batch is as
     * it was and the exception propagates, so the caller handles it as a failed operation); a
     * child's join its parent's.
     */
    public void succeeded() {
        if (ended) {
            return;
        }
        end();
        try {
            if (parent != null) {
                parent.writes.addAll(writes);
                parent.completions.addAll(completions);
            } else {
                committer.append(this);
            }
        } finally {
            writes.clear(); // replayed or handed on: an owner that keeps this scope's identity keeps no writes
            completions.clear();
        }
    }

    /** Discards the operation's writes and completions unless it succeeded: nothing of it reaches the batch. */
    @Override
    public void close() {
        if (ended) {
            return;
        }
        end();
        writes.clear();
        completions.clear();
    }

    /** Ends the scope on its thread: appends made from now on go to the parent (or the open batch). */
    private void end() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("an operation scope ended on " + Thread.currentThread().getName()
                    + ", not on " + owner.getName() + " which opened it");
        }
        ended = true;
        committer.leave(this, parent);
    }
}
