package io.durablemq.engine.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;

/**
 * The {@link Committer}'s writer thread ({@code durablemq-committer}): waits for room in the
 * {@link CommitPipeline}, takes the open batch ({@link OpenBatch#take()}, under the
 * committer's lock), writes it through the {@link BatchWriter} (one RocksDB write, or one submission
 * to the {@link BatchLog}) and hands it to the pipeline, whose own thread runs its completions;
 * or, when the batch was durable as the write returned, no batch is in flight, and either no write
 * waits in the open batch or the batch has at most {@link #SMALL_BATCH_COMPLETIONS} completions,
 * runs the completions itself (see {@link CommitPipeline}): one thread hand-off less for every
 * acknowledgement when the committer is not busy. It holds no lock
 * meanwhile. Should the thread die, its uncaught-exception handler fails the batch it held (or
 * the rest of the one it completed) and has the committer stop committing, so no caller ever
 * waits forever.
 */
final class CommitWriter {
    /** The committer's logger: operators and log-capturing tests look for the writer's lines there. */
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    private final Committer committer;
    private final OpenBatch open;
    private final BatchWriter batchWriter;
    private final CommitPipeline pipeline;
    private final Thread thread;
    /**
     * A batch with at most this many completions is completed on the writer (when nothing is in
     * flight) even while a write waits in the open batch: running them delays that write by a few
     * microseconds each, while handing them over costs each acknowledgement a thread wake-up. At
     * QoS 2's four commits per message a write nearly always waits, so without this the writer
     * completed 19 % of the batches at 2,000 msg/s and 2 % at 8,000 QoS 1; with it 95-100 %, the
     * completion stage's median fell from 33-44 to 3-16 µs and the wait of the next batch did not
     * grow (benchmarks/RESULTS.md, "Tail: completions on the writer (s22, quiet A/B)"). A larger
     * batch (a busy committer) is handed over, so its completions overlap the next write.
     */
    static final int SMALL_BATCH_COMPLETIONS = 32;
    /** The batch the writer works on until it is handed over or completed (null between batches); writer and death handler only. */
    private volatile CommitBatch writing;
    /** The batch whose completions the writer runs itself (null otherwise); writer and death handler only. */
    private volatile CommitBatch completing;

    CommitWriter(Committer committer, OpenBatch open, BatchWriter batchWriter, CommitPipeline pipeline) {
        this.committer = committer;
        this.open = open;
        this.batchWriter = batchWriter;
        this.pipeline = pipeline;
        this.thread = new Thread(this::runWriter, "durablemq-committer");
        this.thread.setDaemon(true);
        this.thread.setUncaughtExceptionHandler((t, e) -> writerDied(e));
    }

    void start() {
        thread.start();
    }

    void join(long millis) throws InterruptedException {
        thread.join(millis);
    }

    boolean isAlive() {
        return thread.isAlive();
    }

    /** The writer: waits for room in the pipeline, takes the open batch, writes it, hands it over or completes it. */
    private void runWriter() {
        while (true) {
            CommitBatch batch;
            try {
                if (!pipeline.awaitRoom()) {
                    return; // the completion thread died; its handler failed everything
                }
                batch = open.take();
            } catch (InterruptedException e) {
                // Nobody should interrupt it; if someone does, it stops like a dead thread, never silently.
                Thread.currentThread().interrupt();
                writerDied(e);
                return;
            }
            if (batch == null) {
                pipeline.writerDone();
                return;
            }
            writing = batch;
            VirtualMachineError fatal = batchWriter.write(batch);
            if (fatal == null && pipeline.mayCompleteOnWriter(batch)
                    && (batch.completions.size() <= SMALL_BATCH_COMPLETIONS || !open.hasWaitingWork())) {
                completing = batch; // before writing is cleared: the death handler sees one or the other
                writing = null;
                pipeline.completeOnWriter(batch);
                completing = null;
                continue;
            }
            pipeline.hand(batch);
            writing = null;
            if (fatal != null) {
                throw fatal; // the batch already failed; the death handler fails the rest and the owner resets
            }
        }
    }

    /**
     * The writer's uncaught-exception handler: nothing more will be written. Fails the batch it
     * held if it was not written (a written one not handed over yet is handed with its outcome)
     * and everything appended since, refuses new completions, and has the owner reset (which
     * replaces the committer). Batches already in the pipeline complete with their real outcome. A batch it was completing itself (it died in
     * there: a completion's throw is caught, so only the counting or the logging of one can get
     * here) has the rest of its completions failed, as the completion thread's death handler does.
     */
    private void writerDied(Throwable error) {
        try {
            log.error("the committer thread died; pending commits fail and the engine resets", error);
            StoreWriteException cause = new StoreWriteException("not committed: the committer thread died: " + error, error);
            CommitBatch held = writing;
            if (held != null) {
                if (held.outcome == null) {
                    held.outcome = CompletableFuture.failedFuture(cause);
                }
                pipeline.hand(held); // written and not handed over yet (it died deciding where): its real outcome, in order
            }
            CommitBatch half = completing;
            if (half != null) {
                pipeline.fail(half, cause); // only its completions not run yet
            }
            committer.stopCommitting(cause);
            pipeline.writerDone();
        } catch (Throwable e) {
            log.error("failing the commits of a dead committer threw", e);
        }
    }
}
