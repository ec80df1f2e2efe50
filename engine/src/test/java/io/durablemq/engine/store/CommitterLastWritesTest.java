package io.durablemq.engine.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.store.CommitterFixture.key;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The committer's {@link Committer.LastWrites} hook on a real store: what it appends is written
 * in the same batch as the writes it sums up (visible exactly when they are), it is asked once per
 * batch that has writes and never for one with only completions, and a hook that throws fails
 * its batch with nothing of it in the store.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CommitterLastWritesTest {
    private static final byte[] SUM = "sum".getBytes(StandardCharsets.UTF_8);

    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();

    /** Sums the keys appended (guarded by the lock), written as the batch's last write. */
    private final class Summing implements Committer.LastWrites {
        long appended;
        int calls;
        RuntimeException throwNext;

        @Override
        public void append(Committer.Appender batch) {
            calls++;
            if (throwNext != null) {
                RuntimeException e = throwNext;
                throwNext = null;
                throw e;
            }
            batch.put(StoreColumn.META, SUM, ByteBuffer.allocate(8).putLong(appended).array());
        }
    }

    /** {@link CommitterFixture#put}, counted in the sum the hook writes. */
    private CompletableFuture<Void> put(Committer c, Summing sum, int i) {
        synchronized (fx.lock) {
            sum.appended++;
            return fx.put(c, i);
        }
    }

    private long storedSum() {
        byte[] v = fx.store.get(StoreColumn.META, SUM);
        return v == null ? -1 : ByteBuffer.wrap(v).getLong();
    }

    @Test
    void theHookWritesInTheSameBatchOncePerBatchWithWrites() throws Exception {
        Summing sum = new Summing();
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            c.lastWrites(sum);
            for (int i = 0; i < 200; i++) {
                put(c, sum, i).get(10, TimeUnit.SECONDS);
                // Every batch written so far carried the figure of everything in it.
                assertEquals(i + 1, storedSum(), "after put " + i);
            }
            int callsAfterWrites;
            synchronized (fx.lock) {
                callsAfterWrites = sum.calls;
            }
            assertEquals(200, callsAfterWrites, "one call per batch (each put waited for its own batch)");
            CompletableFuture<Void> onlyCompletion = new CompletableFuture<>();
            c.onDurable(CommitterFixture.completing(onlyCompletion));
            onlyCompletion.get(10, TimeUnit.SECONDS);
            synchronized (fx.lock) {
                assertEquals(200, sum.calls, "a batch without writes asks no last writes");
            }
        }
    }

    @Test
    void aHookThatThrowsFailsItsBatchAndNothingOfItIsWritten() throws Exception {
        Summing sum = new Summing();
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            c.lastWrites(sum);
            put(c, sum, 1).get(10, TimeUnit.SECONDS);
            synchronized (fx.lock) {
                sum.throwNext = new IllegalStateException("injected in the hook");
            }
            CompletableFuture<Void> failed = put(c, sum, 2);
            ExecutionException e = assertThrows(ExecutionException.class, () -> failed.get(10, TimeUnit.SECONDS));
            assertInstanceOf(StoreWriteException.class, e.getCause());
            assertNull(fx.store.get(StoreColumn.SESSIONS, key(2)), "the batch's own writes are not in the store");
            assertEquals(1, storedSum());
            assertEquals(1, fx.commitFailures.get(), "the owner is told, as for a failed write");
        }
    }
}
