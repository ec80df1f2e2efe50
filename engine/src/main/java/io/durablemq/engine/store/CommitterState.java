package io.durablemq.engine.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The committer's state: its epoch (a new one at each {@link Committer#reset()}) and whether a
 * batch of it failed, sealed, closing, dead; what an append is refused for that ({@link #refusal});
 * and the observer's notice of a failure, once per epoch ({@link #markFailed}). Guarded by the
 * committer's lock (the one passed in), which {@link Committer} also holds while it swaps the open
 * batch, so a batch is taken, dropped or failed against one consistent state. Methods marked
 * "under the lock" expect the caller to hold it; the others take it themselves, or (the seal's
 * checks) read only the volatile {@code sealed}.
 */
final class CommitterState {
    /** The committer's logger: operators and log-capturing tests look for the commit path's lines there. */
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    private final Object lock;
    private final Committer.Observer observer;
    private long epoch;
    private long failedEpoch = -1;
    private boolean closing;
    /** A thread died: nothing more is committed; appended completions fail at once. */
    private boolean dead;
    /**
     * The owner's image went wrong (an operation failed half way) and it resets: what is open is
     * still committed, but nothing more may be appended, since it would be built on that image.
     */
    private volatile boolean sealed;
    /** The epoch whose failure the observer was told of, so a write failure and the death it causes reset once. */
    private long reportedEpoch = -1;

    CommitterState(Object lock, Committer.Observer observer) {
        this.lock = lock;
        this.observer = observer;
    }

    /** Under the lock: the epoch a new open batch belongs to. */
    long epoch() {
        return epoch;
    }

    /** Under the lock. */
    boolean isClosing() {
        return closing;
    }

    /** Under the lock. */
    boolean isDead() {
        return dead;
    }

    /** Under the lock: the owner closes the committer; completions are refused from now on. */
    void startClosing() {
        closing = true;
    }

    /** Under the lock: a thread died; returns the epoch it died in. */
    long die() {
        dead = true;
        return epoch;
    }

    /** Under the lock: a new epoch, not failed (the owner rebuilt its image from the store). */
    void nextEpoch() {
        epoch++;
        failedEpoch = -1;
    }

    /** Under the lock, as the writer takes {@code batch}: true if it is built on a failed epoch or an old one (then it is failed without a write). */
    boolean poisons(CommitBatch batch) {
        return batch.epoch == failedEpoch || batch.epoch != epoch;
    }

    /** Throws if a write may not be appended now (see {@link #refusal}); reads only the volatile seal, so any thread. */
    void refuseIfSealed() {
        StoreWriteException refused = refusal(false);
        if (refused != null) {
            throw refused;
        }
    }

    /** Any thread: true once sealed (a quick check before {@link #refuseIfSealed}). */
    boolean isSealed() {
        return sealed;
    }

    /**
     * Under the lock: why nothing may be appended now, or null. A write is refused only once
     * sealed (closing or dead, it still joins the open batch, which is committed or failed as a
     * whole); a completion is refused also while closing or dead, and failed at once, so that it
     * never waits for a batch nobody will write.
     */
    StoreWriteException refusal(boolean completion) {
        if (completion && closing) {
            return new StoreWriteException("engine is closed", null);
        }
        if (sealed) {
            return new StoreWriteException(completion
                    ? "not written: an operation failed and the engine resets to its last durable state"
                    : "not written: an operation failed and the engine resets to its last durable"
                    + " state; nothing built on its image may be committed", null);
        }
        if (completion && dead) {
            return new StoreWriteException("not written: the committer stopped after an internal error; the engine resets", null);
        }
        return null;
    }

    /** Seals the committer (see {@link Committer#seal()}). */
    void seal() {
        synchronized (lock) {
            sealed = true;
        }
    }

    /** True while the committer cannot commit: a write failed (until reset) or a thread died. */
    boolean isFailed() {
        synchronized (lock) {
            return dead || failedEpoch == epoch;
        }
    }

    /** Every batch of {@code failed} not written yet will fail; the observer is told later, in commit order. */
    void poison(long failed) {
        synchronized (lock) {
            failedEpoch = failed;
        }
    }

    /** Poisons {@code failed} and tells the observer once per epoch (outside the lock: it may reset). */
    void markFailed(long failed, StoreWriteException cause) {
        boolean report;
        synchronized (lock) {
            failedEpoch = failed;
            report = reportedEpoch != failed;
            reportedEpoch = failed;
        }
        if (report) {
            try {
                observer.commitFailed(cause);
            } catch (Throwable e) {
                log.error("commit failure observer threw", e);
            }
        }
    }
}
