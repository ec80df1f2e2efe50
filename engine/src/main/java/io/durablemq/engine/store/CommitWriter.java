package io.durablemq.engine.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;

/**
 * The {@link Committer}'s writer thread ({@code durablemq-committer}): waits for room in the
 * {@link CommitPipeline}, takes the open batch ({@link Committer#takeOpenBatch()}, under the
 * owner's lock), writes it through the {@link BatchWriter} (one RocksDB write, or one submission
 * to the {@link BatchLog}) and hands it to the pipeline, whose own thread runs its completions.
 * Should the thread die, its uncaught-exception handler fails the batch it held and has the
 * committer stop committing, so no caller ever waits forever.
 */
final class CommitWriter {
    /** The committer's logger: operators and log-capturing tests look for the writer's lines there. */
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    private final Committer committer;
    private final BatchWriter batchWriter;
    private final CommitPipeline pipeline;
    private final Thread thread;
    /** The batch the writer works on (null between batches); only the writer and its death handler touch it. */
    private volatile CommitBatch writing;

    CommitWriter(Committer committer, BatchWriter batchWriter, CommitPipeline pipeline) {
        this.committer = committer;
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

    /** The writer: waits for room in the pipeline, takes the open batch, writes it, hands it over. */
    private void runWriter() {
        while (true) {
            CommitBatch batch;
            try {
                if (!pipeline.awaitRoom()) {
                    return; // the completion thread died; its handler failed everything
                }
                batch = committer.takeOpenBatch();
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
            pipeline.hand(batch);
            writing = null;
            if (fatal != null) {
                throw fatal; // the batch already failed; the death handler fails the rest and the owner resets
            }
        }
    }

    /**
     * The writer's uncaught-exception handler: nothing more will be written. Fails the batch it
     * held (if it never reached the pipeline) and everything appended since, refuses new
     * completions, and has the owner reset (which replaces the committer). Batches already in
     * the pipeline complete with their real outcome.
     */
    private void writerDied(Throwable error) {
        try {
            log.error("the committer thread died; pending commits fail and the engine resets", error);
            StoreWriteException cause = new StoreWriteException("not committed: the committer thread died: " + error, error);
            CommitBatch held = writing;
            if (held != null && held.outcome == null) {
                held.outcome = CompletableFuture.failedFuture(cause);
                pipeline.hand(held);
            }
            committer.stopCommitting(cause);
            pipeline.writerDone();
        } catch (Throwable e) {
            log.error("failing the commits of a dead committer threw", e);
        }
    }
}
