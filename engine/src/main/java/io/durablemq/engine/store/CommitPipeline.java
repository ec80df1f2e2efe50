package io.durablemq.engine.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The second stage of the {@link Committer}: batches the writer has written (or submitted to a
 * replicated log) wait here, in commit order, and one thread runs their completions, strictly
 * batch after batch, each only once its batch is durable. So the writer starts the next batch's
 * write while this thread still runs the last batch's completions (the pipelined commit), and
 * with a log that accepts several batches before the first is durable (Raft), several are in
 * flight. At most {@code depth} batches are handed over and not yet completed; the writer waits
 * for room ({@link #awaitRoom}), so {@code depth} 1 is the old committer: one write, then its
 * completions, then the next write.
 *
 * <p>The writer completes a batch itself when handing it over would buy nothing
 * ({@link #mayCompleteOnWriter}, {@link #completeOnWriter}): the batch was durable when its write
 * returned (a log that keeps {@link BatchLog}'s own submit: the local RocksDB write; never a
 * replicated log's submission, see {@link CommitBatch#durableOnReturn}), nothing is in
 * flight (so no completion runs or waits here, and running this batch's now overtakes none), no
 * batch of its epoch failed, and either no write waits in the open batch or the batch is small
 * (the caller, {@link CommitWriter}, checks those two). There is then little or nothing for the
 * writer to do meanwhile, and the hand-off would only add a thread wake-up, which on a busy machine
 * waits for a CPU, to every acknowledgement (engine/README.md, "The pipelined committer"). While it runs them it hands nothing over, so the order stays one order:
 * this thread and the writer take turns, each turn starting under this object's monitor with
 * nothing in flight, which also orders their reads and writes of {@link #failedEpoch} and
 * {@link #writeEndedNanos}. The writer holds no lock while it runs them, so they may append to the
 * committer and take the owner's locks as they do here.
 *
 * <p>Failure contract: once a batch fails (its write threw, its future failed, or it was
 * poisoned), every later batch of the same epoch fails too, even if its own write succeeded:
 * it was built on the failed one. None of their completions runs as success, and the owner is
 * told (it reports once per epoch and resets). Batches before the failed one are durable and
 * complete normally, before the failure is reported. A failed batch is always handed over, never
 * completed on the writer.
 */
final class CommitPipeline {
    private static final Logger log = LoggerFactory.getLogger(CommitPipeline.class);

    /** What the pipeline needs from its committer. */
    interface Owner {
        /** A batch failed: poison its epoch and tell the committer's observer (once per epoch). */
        void failed(long epoch, StoreWriteException cause);

        /** A batch is durable; its completions run next, on the writer or on the completion thread. */
        void committed(CommitBatch batch, boolean onWriter);

        /** A completion threw; logged here, counted there. */
        void completionThrew(Throwable error);

        /** The completion thread is dying: nothing more may be committed; fail what is open and report. */
        void completerDied(StoreWriteException cause);
    }

    private final int depth;
    private final Owner owner;
    private final Thread thread;
    /** Handed over and not completed yet, oldest first; the head is the one being completed. */
    private final ArrayDeque<CommitBatch> inFlight = new ArrayDeque<>();
    /** The writer will hand nothing more. */
    private boolean writerDone;
    /** The completion thread died: the writer stops, batches handed later are failed at once. */
    private boolean stopped;
    /**
     * When the batch whose completions run now became durable: for its completions to time
     * themselves. Written and read by whichever thread has the turn (see the class comment).
     */
    private long writeEndedNanos;
    /** An epoch in which a batch failed: every later batch of it fails too. Whichever thread has the turn. */
    private long failedEpoch = -1;
    /** Batches whose completions the writer ran itself (a figure for tests and measurements). */
    private volatile long completedOnWriter;

    CommitPipeline(int depth, Owner owner) {
        if (depth < 1) {
            throw new IllegalArgumentException("commit batches in flight must be at least 1: " + depth);
        }
        this.depth = depth;
        this.owner = owner;
        this.thread = new Thread(this::run, "durablemq-commit-completions");
        this.thread.setDaemon(true);
        this.thread.setUncaughtExceptionHandler((t, e) -> died(e));
        this.thread.start();
    }

    int depth() {
        return depth;
    }

    /** Writer: waits until fewer than {@code depth} batches are in flight. False once the completion thread died. */
    synchronized boolean awaitRoom() throws InterruptedException {
        while (inFlight.size() >= depth && !stopped) {
            wait();
        }
        return !stopped;
    }

    /**
     * Writer: true if it may run {@code batch}'s completions itself now ({@link #completeOnWriter})
     * instead of handing it over: the batch was durable when its write returned, nothing is in
     * flight, its epoch has not failed, and the completion thread is alive. Nothing but the writer
     * hands batches over, so nothing is in flight until the writer's next {@link #hand}. Whether
     * a write waits in the open batch is the caller's to check.
     */
    synchronized boolean mayCompleteOnWriter(CommitBatch batch) {
        return batch.durableOnReturn && inFlight.isEmpty() && !stopped && batch.epoch != failedEpoch;
    }

    /**
     * Writer, after {@link #mayCompleteOnWriter} said yes: runs the batch's completions on the
     * calling thread, as the completion thread would have (the same {@code complete}).
     */
    void completeOnWriter(CommitBatch batch) {
        // Counted before the completions run, as the observer is told before them: whoever a
        // completion wakes sees the count that includes its own batch.
        completedOnWriter++; // only the writer writes it
        complete(batch, true);
    }

    /** How many batches' completions the writer took to run itself (counted as it starts them). */
    long completedOnWriter() {
        return completedOnWriter;
    }

    /** Batches handed over and not completed yet. */
    synchronized int inFlight() {
        return inFlight.size();
    }

    /** Writer: hands over the next batch in commit order, its {@code outcome} set. */
    void hand(CommitBatch batch) {
        synchronized (this) {
            if (!stopped) {
                inFlight.add(batch);
                notifyAll();
                return;
            }
        }
        fail(batch, new StoreWriteException("not committed: the commit completion thread died", null));
    }

    /** Writer: nothing more will be handed over; the thread ends once the last batch is completed. */
    synchronized void writerDone() {
        writerDone = true;
        notifyAll();
    }

    /** Waits for the completion thread to end (after {@link #writerDone}); true if it has. */
    boolean join(long millis) throws InterruptedException {
        thread.join(millis);
        return !thread.isAlive();
    }

    /**
     * System.nanoTime when the batch whose completions are running became durable. Only
     * meaningful inside {@link Committer.Completion#durable()}, on the thread that runs it (the
     * completion thread, or the writer when it completes a batch itself).
     */
    long writeEndedNanos() {
        return writeEndedNanos;
    }

    private void run() {
        while (true) {
            CommitBatch batch;
            synchronized (this) {
                while (inFlight.isEmpty() && !writerDone) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        // Nobody should interrupt it; if someone does, it stops like a dead thread, never silently.
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("commit completion thread interrupted", e);
                    }
                }
                if (inFlight.isEmpty()) {
                    return;
                }
                batch = inFlight.peek(); // still counted in flight until its completions ran
            }
            complete(batch, false);
            synchronized (this) {
                inFlight.poll();
                notifyAll();
            }
        }
    }

    private void complete(CommitBatch batch, boolean onWriter) {
        StoreWriteException failure = awaitOutcome(batch);
        if (failure == null && batch.epoch == failedEpoch) {
            failure = new StoreWriteException("not acknowledged: an earlier commit in flight failed and this batch"
                    + " was built on it (outcome unknown: the engine resets to what the store holds)", null);
        }
        if (failure != null) {
            failedEpoch = batch.epoch;
            owner.failed(batch.epoch, failure);
        } else {
            writeEndedNanos = batch.writeEndedNanos;
            owner.committed(batch, onWriter);
        }
        runCompletions(batch, failure);
    }

    /** Null when the batch is durable, else why not. Waits for it (a batch log's future always completes). */
    private StoreWriteException awaitOutcome(CommitBatch batch) {
        Throwable cause;
        try {
            batch.outcome.get();
            return null;
        } catch (ExecutionException | CompletionException e) {
            cause = e.getCause() == null ? e : e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("commit completion thread interrupted", e);
        }
        if (cause instanceof CompletionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (batch.poisoned && cause instanceof StoreWriteException swe) {
            return swe; // never written: the message already says why
        }
        log.error("store write failed; nothing in this batch or any later one in flight is acknowledged", cause);
        return new StoreWriteException("commit of " + batch.count + " writes failed (outcome unknown: "
                + "the engine resets to what the store holds): " + cause, cause);
    }

    /** Runs the batch's remaining completions: as durable if {@code failure} is null, else failed. */
    void runCompletions(CommitBatch batch, StoreWriteException failure) {
        while (batch.nextCompletion < batch.completions.size()) {
            Committer.Completion c = batch.completions.get(batch.nextCompletion++);
            if (failure == null) {
                try {
                    c.durable();
                } catch (Throwable e) {
                    completionThrew(e);
                }
            } else {
                safeFail(c, failure);
            }
        }
    }

    void fail(CommitBatch batch, StoreWriteException cause) {
        runCompletions(batch, cause);
    }

    void safeFail(Committer.Completion c, Throwable cause) {
        try {
            c.failed(cause);
        } catch (Throwable e) {
            completionThrew(e);
        }
    }

    private void completionThrew(Throwable e) {
        log.error("commit completion threw", e);
        try {
            owner.completionThrew(e);
        } catch (Throwable ignored) {
            // counting must not stop the completion thread either
        }
    }

    /**
     * The uncaught-exception handler of the completion thread: nothing handed over would ever
     * complete. Fails the rest of the batch it worked on and every batch behind it (their outcome
     * is unknown to the callers now), stops the writer, and has the owner fail what is open.
     */
    private void died(Throwable error) {
        try {
            log.error("the commit completion thread died; pending commits fail and the engine resets", error);
            ArrayDeque<CommitBatch> left;
            synchronized (this) {
                stopped = true;
                left = new ArrayDeque<>(inFlight);
                inFlight.clear();
                notifyAll();
            }
            StoreWriteException cause = new StoreWriteException("not committed: the commit completion thread died: "
                    + error, error);
            owner.completerDied(cause);
            for (CommitBatch b : left) {
                fail(b, cause); // includes inProgress (still at the head): only its remaining completions
            }
        } catch (Throwable e) {
            log.error("failing the commits of a dead completion thread threw", e);
        }
    }
}
