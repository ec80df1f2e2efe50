package io.durablemq.engine.store;

import java.util.concurrent.TimeUnit;

/**
 * The committer's open batch: appended to (a write, a completion, a succeeded operation's writes
 * and completions in one critical section) and taken by the writer ({@link #take()}), both under
 * the committer's lock, the one passed in (the owner's, or one of the committer's own, as the
 * engine's is since step 2 of "Towards partitions"). An operation's writes are atomic together
 * because its scope appends them in one critical section ({@link Committer#operation()}), or
 * because the caller appends them all while holding the lock. {@link Committer}'s reset, stop and
 * close hold the same lock while they change its {@link CommitterState} and swap the batch out
 * ({@link #swap()}), so the writer never takes a batch half way through either.
 *
 * <p>Whether an append is refused is the {@link CommitterState}'s to say; how a write changes
 * the batch is {@link BatchWriteRules}'; what a batch gets as it is taken is
 * {@link BatchEndWrites}'. A refused completion is returned, not failed here: the caller fails it
 * outside the lock, since a failed completion may call its owner, which may take its own lock.
 */
final class OpenBatch {
    private final Object lock;
    /** {@link Committer#RIDE_ALONG_MILLIS}, or what a test set ({@link CommitFaults#rideAlongMillis()}). */
    private final long rideAlongNanos;
    private final CommitterState state;
    /** How a write joins the open batch, under the lock. */
    private final BatchWriteRules rules;
    /** What a batch gets as it is taken: its end puts and the owner's {@link Committer.LastWrites}; guarded by the lock. */
    private final BatchEndWrites endWrites;
    private CommitBatch open;

    OpenBatch(Object lock, CommitterState state, Store store, long rideAlongNanos) {
        this.lock = lock;
        this.rideAlongNanos = rideAlongNanos;
        this.state = state;
        this.rules = new BatchWriteRules(store, state);
        this.endWrites = new BatchEndWrites(store);
        this.open = new CommitBatch(0);
    }

    /** One write joins the open batch at once, with the batch's rules; refused while sealed. */
    void append(BatchOperation.Kind kind, StoreColumn column, byte[] key, byte[] value) {
        synchronized (lock) {
            state.refuseIfSealed();
            boolean wasEmpty = open.isEmpty();
            boolean wasReady = open.isReady();
            rules.apply(open, kind, column, key, value);
            open.prompt = true; // a write outside an operation: no declaration, so it may not wait
            wake(wasEmpty, wasReady);
        }
    }

    /** A completion joins the open batch; returns why it may not (then it was not added), or null. */
    StoreWriteException append(Committer.Completion completion) {
        synchronized (lock) {
            StoreWriteException refused = state.refusal(true);
            if (refused == null) {
                boolean wasEmpty = open.isEmpty();
                boolean wasReady = open.isReady();
                open.completions.add(completion);
                open.prompt = true;
                wake(wasEmpty, wasReady);
            }
            return refused;
        }
    }

    /**
     * A succeeded operation's writes and completions join the open batch in one critical section,
     * in the order they were recorded: the writer cannot take the batch in the middle, so the
     * operation is in exactly one batch. Whole or not at all: a save point is held on the batch
     * for the length of this append only; if a write throws (a SingleDelete of a key the batch
     * rewrites, a native failure), the batch is rolled back to it and the exception propagates
     * ({@link BatchWriteRules#applyAll}). Returns why its completions may not join (as
     * {@link #append(Committer.Completion)} would refuse them; then none was added), or null.
     */
    StoreWriteException append(BatchOperation op) {
        StoreWriteException refused;
        synchronized (lock) {
            if (!op.writes.isEmpty()) {
                state.refuseIfSealed();
            }
            CommitBatch batch = open;
            boolean wasEmpty = batch.isEmpty();
            boolean wasReady = batch.isReady();
            if (!op.writes.isEmpty()) {
                rules.applyAll(batch, op.writes);
            }
            refused = op.completions.isEmpty() ? null : state.refusal(true);
            if (refused == null) {
                batch.completions.addAll(op.completions);
            }
            if (op.needsPromptCommit()) {
                batch.prompt = true;
            }
            wake(wasEmpty, wasReady);
        }
        return refused;
    }

    /**
     * Under the lock: wakes the committer when the open batch just stopped being empty (it then waits
     * for the batch to be ready or for the ride-along time, from this first append) or just became
     * ready. Twice per batch at most (it re-checks before waiting), since waking it on every append only
     * makes it fight the appending thread for the lock.
     */
    private void wake(boolean wasEmpty, boolean wasReady) {
        boolean notify = false;
        if (wasEmpty && !open.isEmpty()) {
            open.firstAppendNanos = System.nanoTime();
            notify = true;
        }
        if (!wasReady && open.isReady()) {
            open.readyNanos = System.nanoTime();
            notify = true;
        }
        if (notify) {
            lock.notify();
        }
    }

    /** Sets the hook that appends each batch's last writes as it is taken (see {@link Committer.LastWrites}). */
    void lastWrites(Committer.LastWrites hook) {
        synchronized (lock) {
            endWrites.hook(hook);
        }
    }

    /**
     * For the writer ({@link CommitWriter}): waits for a batch with something in it and swaps in a
     * new open batch, under the lock; null once closing (or dead) with nothing left.
     */
    CommitBatch take() throws InterruptedException {
        synchronized (lock) {
            while (!takeable() && !state.isClosing() && !state.isDead()) {
                if (open.isEmpty()) {
                    lock.wait();
                } else { // only operations that may wait for the next commit: until one that may not, or their time
                    long left = open.firstAppendNanos + rideAlongNanos - System.nanoTime();
                    if (left > 0) {
                        TimeUnit.NANOSECONDS.timedWait(lock, left);
                    }
                }
            }
            if (state.isDead() || open.isEmpty()) {
                return null;
            }
            CommitBatch batch = swap();
            batch.poisoned = state.poisons(batch);
            if (!batch.poisoned) {
                // Under the lock, so no operation is half-appended; a batch that fails instead gets none.
                batch.lastWritesError = endWrites.appendTo(batch);
                if (batch.lastWritesError != null) {
                    state.poison(batch.epoch); // without its last writes the batch is never written, nor any after it
                }
            }
            return batch;
        }
    }

    /** Under the lock: the open batch is ready, or holds only operations that may wait and has waited long enough. */
    private boolean takeable() {
        return open.isReady() || (!open.isEmpty() && System.nanoTime() - open.firstAppendNanos >= rideAlongNanos);
    }

    /**
     * For the writer: true if the open batch is ready to be written (operations that may wait for the
     * next commit do not count: they wait anyway). Then the writer hands the batch it just wrote to the
     * completion thread, unless that batch is small ({@link CommitWriter#SMALL_BATCH_COMPLETIONS}), and
     * goes on to the next write at once.
     */
    boolean hasWaitingWork() {
        synchronized (lock) {
            return open.isReady();
        }
    }

    /** Under the lock: returns the open batch and opens an empty one in the state's epoch. */
    CommitBatch swap() {
        CommitBatch batch = open;
        open = new CommitBatch(state.epoch());
        return batch;
    }
}
