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
    /**
     * True for a log that keeps {@link BatchLog}'s own {@code submit} (the local RocksDB write):
     * its batches are durable when the write returns, and the writer may complete them itself
     * ({@link CommitBatch#durableOnReturn}). A log with its own {@code submit} (a replicated log,
     * a test's gated log) answers later, so its batches are always handed over, even one whose
     * future happens to be done by the time the writer looks.
     */
    private final boolean writesBeforeReturn;

    BatchWriter(Store store, BatchLog batchLog, CommitFaults faults, Committer.Observer observer, LongConsumer poison) {
        this.store = store;
        this.batchLog = batchLog;
        this.faults = faults;
        this.observer = observer;
        this.poison = poison;
        this.writesBeforeReturn = keepsDefaultSubmit(batchLog);
    }

    private static boolean keepsDefaultSubmit(BatchLog batchLog) {
        try {
            return batchLog.getClass().getMethod("submit", Store.class, org.rocksdb.WriteBatch.class)
                    .getDeclaringClass() == BatchLog.class;
        } catch (NoSuchMethodException e) {
            return false; // cannot tell: hand over, as before
        }
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
            batch.durableOnReturn = writesBeforeReturn; // a replicated log's completions stay on the completion thread
            batch.writes.close();
            return null;
        }
        long t0 = System.nanoTime();
        batch.writeStartNanos = t0;
        if (batch.readyNanos != 0) { // a batch of operations that may wait has no wait of anyone's to report
            try {
                observer.batchWaited(t0 - batch.readyNanos);
            } catch (Throwable e) {
                log.error("commit observer threw", e);
            }
        }
        try {
            faults.beforeWrite(batch.count);
            CompletableFuture<Void> durable = batchLog.submit(store, batch.writes);
            boolean durableOnReturn = writesBeforeReturn && durable.isDone() && !durable.isCompletedExceptionally();
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
