package io.durablemq.engine.support;

import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Store;
import org.rocksdb.WriteBatch;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A batch log the test drives, as a replicated log would behave: while {@link #gate gated}, each
 * submitted batch is held (its bytes copied, nothing written) until the test makes it durable
 * ({@link #succeed}: written to the real store, then the future completes), fails it with an
 * unknown outcome, written or not ({@link #fail}). The committer may submit several before the
 * first is durable. Ungated, it is the local RocksDB write.
 */
public final class GatedBatchLog implements BatchLog {
    /** One held batch, numbered from 1 in submission order. */
    public record Submission(int number, Store store, byte[] data, CompletableFuture<Void> future) {
    }

    private final LinkedBlockingQueue<Submission> submitted = new LinkedBlockingQueue<>();
    private final AtomicInteger numbers = new AtomicInteger();
    private volatile boolean gated;

    public void gate() {
        gated = true;
    }

    /** From now on batches are written at once (held ones stay held until the test decides). */
    public void ungate() {
        gated = false;
    }

    @Override
    public void write(Store store, WriteBatch batch) throws Exception {
        try {
            submit(store, batch).get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception c ? c : e;
        }
    }

    @Override
    public CompletableFuture<Void> submit(Store store, WriteBatch batch) throws Exception {
        if (!gated) {
            store.write(batch);
            return CompletableFuture.completedFuture(null);
        }
        Submission s = new Submission(numbers.incrementAndGet(), store, batch.data(), new CompletableFuture<>());
        submitted.add(s);
        return s.future();
    }

    /** The next held batch; fails the test if none is submitted within {@code timeout}. */
    public Submission next(Duration timeout) throws InterruptedException {
        Submission s = submitted.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (s == null) {
            throw new AssertionError("no batch submitted within " + timeout);
        }
        return s;
    }

    /** True if nothing is submitted within {@code quiet}. */
    public boolean nothingSubmittedWithin(Duration quiet) throws InterruptedException {
        Submission s = submitted.poll(quiet.toMillis(), TimeUnit.MILLISECONDS);
        if (s != null) {
            throw new AssertionError("batch " + s.number() + " was submitted");
        }
        return true;
    }

    /** Makes a held batch durable: written to its store, then its future completes. */
    public static void succeed(Submission s) throws Exception {
        try (WriteBatch b = new WriteBatch(s.data())) {
            s.store().write(b);
        }
        s.future().complete(null);
    }

    /** Writes a held batch to its store without completing its future (it is durable; the caller does not know yet). */
    public static void writeOnly(Submission s) throws Exception {
        try (WriteBatch b = new WriteBatch(s.data())) {
            s.store().write(b);
        }
    }

    /** Fails a held batch (outcome unknown), after writing it to its store if {@code written}. */
    public static void fail(Submission s, boolean written) throws Exception {
        if (written) {
            try (WriteBatch b = new WriteBatch(s.data())) {
                s.store().write(b);
            }
        }
        s.future().completeExceptionally(new java.io.IOException("injected: batch " + s.number() + " failed"
                + (written ? " after it was written" : " before it was written")));
    }
}
