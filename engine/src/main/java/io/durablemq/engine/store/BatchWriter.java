package io.durablemq.engine.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.function.LongConsumer;

/**
 * The committer's writer step: sends one taken batch to the {@link BatchLog} (the local RocksDB
 * write, or a submission to a replicated log) and sets the batch's outcome, which the
 * {@link CommitPipeline} waits for before running the batch's completions. Runs on the writer
 * thread only.
 */
final class BatchWriter {
    private static final Logger log = LoggerFactory.getLogger(BatchWriter.class);

    private final Store store;
    private final BatchLog batchLog;
    private final CommitFaults faults;
    private final Committer.Observer observer;
    /** Marks an epoch failed at once, so the writer takes no more of its batches. */
    private final LongConsumer poison;

    BatchWriter(Store store, BatchLog batchLog, CommitFaults faults, Committer.Observer observer, LongConsumer poison) {
        this.store = store;
        this.batchLog = batchLog;
        this.faults = faults;
        this.observer = observer;
        this.poison = poison;
    }

    /**
     * Writes (or submits) one batch and sets its outcome. Returns a VirtualMachineError the write
     * threw, for the caller to rethrow once the batch is handed over (failed).
     */
    VirtualMachineError write(CommitBatch batch) {
        if (batch.poisoned) {
            batch.outcome = CompletableFuture.failedFuture(new StoreWriteException(
                    "not written: an earlier commit failed and the engine has not reset yet", null));
            batch.writes.close();
            return null;
        }
        if (batch.lastWritesError != null) {
            // Without its last writes the batch would leave the store inconsistent: never written.
            Throwable e = batch.lastWritesError;
            log.error("appending a batch's last writes failed; nothing in this batch is acknowledged", e);
            poison.accept(batch.epoch);
            batch.outcome = CompletableFuture.failedFuture(new StoreWriteException(
                    "not written: appending the batch's last writes failed: " + e, e));
            batch.writes.close();
            return e instanceof VirtualMachineError vme ? vme : null;
        }
        if (batch.count == 0) {
            batch.writeEndedNanos = System.nanoTime(); // nothing to write: its completions start from here
            batch.outcome = CompletableFuture.completedFuture(null);
            batch.durableOnReturn = true;
            batch.writes.close();
            return null;
        }
        long t0 = System.nanoTime();
        batch.writeStartNanos = t0;
        try {
            observer.batchWaited(t0 - batch.firstAppendNanos);
        } catch (Throwable e) {
            log.error("commit observer threw", e);
        }
        try {
            faults.beforeWrite(batch.count);
            CompletableFuture<Void> durable = batchLog.submit(store, batch.writes);
            // Read at once: a replicated log's future that completes a moment later still counts as not durable on return.
            boolean durableOnReturn = durable.isDone() && !durable.isCompletedExceptionally();
            faults.afterWrite(batch.count);
            batch.outcome = durable.whenComplete((ok, failed) -> {
                if (failed == null) {
                    batch.writeEndedNanos = System.nanoTime();
                } else {
                    poison.accept(batch.epoch); // take no more batches of this epoch, before the completions get there
                }
            });
            batch.durableOnReturn = durableOnReturn;
            return null;
        } catch (Throwable e) {
            // Whatever threw, the write may or may not have reached the WAL: unknown outcome.
            poison.accept(batch.epoch);
            batch.outcome = CompletableFuture.failedFuture(e);
            return e instanceof VirtualMachineError vme ? vme : null;
        } finally {
            batch.writes.close(); // a batch log has taken the bytes when submit returns
        }
    }

}
