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
 * in that order by {@link Committer#append}, with the batch's own rules ({@link BatchWriteRules}:
 * a fresh put deleted in the same batch writes nothing, a once-per-batch value dropped by a later
 * plain write, ...) applied as it is replayed. Confined to the thread that opened it. A scope
 * opened inside another on the same thread is its child: its records join the parent's when it
 * succeeds, and are dropped alone when it does not.
 */
public final class BatchOperation implements AutoCloseable {
    /** What a recorded write does; replayed by the committer with the matching append. */
    enum Kind { PUT, DELETE, SINGLE_DELETE, DELETE_RANGE, PUT_ONCE_PER_BATCH, PUT_NEW }

    /** One recorded write; a range delete keeps its end in {@code value}. */
    record Write(Kind kind, StoreColumn column, byte[] key, byte[] value) {
    }

    private final Committer committer;
    /** The committer's per-thread scopes, told when this one ends. */
    private final OperationScopes scopes;
    /** The scope this one was opened in on the same thread, or null. */
    private final BatchOperation parent;
    private final Thread owner = Thread.currentThread();
    final List<Write> writes = new ArrayList<>();
    final List<Committer.Completion> completions = new ArrayList<>();
    /**
     * The narrow locks this operation took ({@link OperationLock#holdFor}), in the order taken:
     * released, newest first, only after its writes are appended or discarded (strict two-phase
     * locking, engine/README.md "The partitioned engine: design"); a child's pass to its parent.
     */
    private final List<OperationLock> held = new ArrayList<>(2);
    private boolean ended;
    /** Declared by the operation's own code ({@link #mayWaitForNextCommit()}). */
    private boolean declaredMayWait;
    /** A child that may not wait joined this operation with writes or completions. */
    private boolean childMayNotWait;

    BatchOperation(Committer committer, OperationScopes scopes, BatchOperation parent) {
        this.committer = committer;
        this.scopes = scopes;
        this.parent = parent;
    }

    void record(Kind kind, StoreColumn column, byte[] key, byte[] value) {
        writes.add(new Write(kind, column, key, value));
    }

    void record(Committer.Completion completion) {
        completions.add(completion);
    }

    /** See {@link Committer#mayWaitForNextCommit()}. */
    void mayWaitForNextCommit() {
        declaredMayWait = true;
    }

    /**
     * Whether this operation wakes the writer: unless it declared it may wait for the next commit,
     * and no child that did not declare so joined it with writes or completions.
     */
    boolean needsPromptCommit() {
        return !declaredMayWait || childMayNotWait;
    }

    /**
     * Takes {@code lock} for this operation (the caller checked that its thread does not hold it):
     * refused before it waits if this operation, or one it is nested in, holds a lock of a higher
     * rank, since another thread taking the two in the design's order could then deadlock with it.
     */
    void hold(OperationLock lock) {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException(lock + " taken for an operation of " + owner.getName()
                    + " on " + Thread.currentThread().getName());
        }
        for (BatchOperation op = this; op != null; op = op.parent) {
            for (OperationLock h : op.held) {
                if (h.rank().compareTo(lock.rank()) > 0) {
                    throw new IllegalStateException("lock order: " + lock + " taken while holding " + h
                            + " (engine/README.md, \"Lock order\"; a bug)");
                }
            }
        }
        lock.lock();
        held.add(lock);
    }

    /**
     * Plain puts less SingleDeletes this operation recorded in {@code column} and has not yet
     * appended or discarded: for a failed operation, the change in stored bodies it had counted.
     */
    public int putsLessSingleDeletes(StoreColumn column) {
        int n = 0;
        for (Write w : writes) {
            if (w.column() == column) {
                n += w.kind() == Kind.PUT ? 1 : w.kind() == Kind.SINGLE_DELETE ? -1 : 0;
            }
        }
        return n;
    }

    /**
     * Keeps the operation: a top-level scope's writes and completions are appended to the open
     * batch in one critical section (whole or not at all: if the append throws, the batch is as
     * it was and the exception propagates, so the caller handles it as a failed operation, and
     * the narrow locks stay held until {@link #close()}); a child's join its parent's, and so do
     * its locks. The narrow locks of a top-level scope are released once its writes are appended.
     */
    public void succeeded() {
        if (ended) {
            return;
        }
        end();
        if (parent != null) {
            if (needsPromptCommit() && !(writes.isEmpty() && completions.isEmpty())) {
                parent.childMayNotWait = true;
            }
            parent.writes.addAll(writes);
            parent.completions.addAll(completions);
            handLocksToParent();
        } else {
            committer.append(this); // on a throw, the writes stay for putsLessSingleDeletes and the locks for close()
            releaseLocks();
        }
        writes.clear(); // replayed or handed on: an owner that keeps this scope's identity keeps no writes
        completions.clear();
    }

    /**
     * Discards the operation's writes and completions unless it succeeded: nothing of it reaches
     * the batch. Then releases the narrow locks it still holds (a child hands them to its parent,
     * which ends later): an owner whose in-memory image the failed operation changed must make
     * sure first that nothing built on that image can be appended (the engine seals its
     * committer before it closes a failed operation).
     */
    @Override
    public void close() {
        if (!ended) {
            end();
        }
        writes.clear();
        completions.clear();
        if (parent != null) {
            handLocksToParent();
        } else {
            releaseLocks();
        }
    }

    private void handLocksToParent() {
        parent.held.addAll(held);
        held.clear();
    }

    private void releaseLocks() {
        for (int i = held.size() - 1; i >= 0; i--) {
            held.remove(i).unlock();
        }
    }

    /** Ends the scope on its thread: appends made from now on go to the parent (or the open batch). */
    private void end() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("an operation scope ended on " + Thread.currentThread().getName()
                    + ", not on " + owner.getName() + " which opened it");
        }
        ended = true;
        scopes.leave(parent);
    }
}
