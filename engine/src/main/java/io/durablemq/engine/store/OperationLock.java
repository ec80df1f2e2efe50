package io.durablemq.engine.store;

import java.util.concurrent.locks.ReentrantLock;

/**
 * One of the partitioned engine's narrow locks on a broker-wide structure (the subscription
 * index's writer, retained messages, bodies' reference counts: engine/README.md, "The
 * partitioned engine: design", step 3). An operation takes it with {@link #holdFor} and keeps it
 * until its writes are appended to the open batch, or discarded when it fails (strict two-phase
 * locking with the append as the commit point): so two operations that change one thing are
 * appended in the order they changed it, and the store's history is a serial one. The
 * {@link BatchOperation} records the locks it took and releases them, newest first, after its
 * append or its discard.
 *
 * <p>Operations take these locks in ascending {@link Rank} only (a second take of a lock the
 * thread already holds is free, whatever it holds meanwhile): a take out of order throws before
 * it waits, since two operations taking two locks in opposite orders could deadlock. Completions
 * and the reset take a lock briefly with {@link #lock()} / {@link #unlock()}, holding nothing else
 * of this kind.
 */
public final class OperationLock {
    /**
     * The lock order of the design: an operation takes narrow locks in this order only (partition
     * locks, step 4, come first). The committer's own lock comes after all of them: it is taken
     * inside an append only, which happens while they are held.
     */
    public enum Rank { PARTITION, INDEX_WRITER, RETAINED, BODY_REFS }

    private final ReentrantLock lock = new ReentrantLock();
    private final String name;
    private final Rank rank;

    public OperationLock(String name, Rank rank) {
        this.name = name;
        this.rank = rank;
    }

    public Rank rank() {
        return rank;
    }

    /**
     * Takes this lock for the calling thread's open operation on {@code committer} and holds it
     * until the operation's writes are appended (or discarded). Free if the thread holds it
     * already (an enclosing operation, or a caller holding every lock, releases it later).
     *
     * @throws IllegalStateException outside an operation scope (nothing would release the lock
     *                               after the append), or if the operation holds a lock of a
     *                               higher rank (out of the design's order: a possible deadlock)
     */
    public void holdFor(Committer committer) {
        if (lock.isHeldByCurrentThread()) {
            return;
        }
        BatchOperation op = committer.currentOperation();
        if (op == null) {
            throw new IllegalStateException("the " + name + " lock taken outside an operation scope:"
                    + " nothing would release it after the operation's append (a bug)");
        }
        op.hold(this);
    }

    /** True if the calling thread holds this lock. */
    public boolean isHeldByCurrentThread() {
        return lock.isHeldByCurrentThread();
    }

    /** Takes the lock for a short section outside any operation (a completion, the reset). */
    public void lock() {
        lock.lock();
    }

    public void unlock() {
        lock.unlock();
    }

    @Override
    public String toString() {
        return name + " (" + rank + ")";
    }
}
