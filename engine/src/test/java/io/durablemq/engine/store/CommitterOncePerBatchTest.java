package io.durablemq.engine.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.store.CommitterFixture.completing;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * {@link Committer#putOncePerBatch} on a real store. Every scenario appends its whole batch while
 * holding the committer's lock, so the writer cannot take the batch in between: what it asserts
 * is one batch. The observer's write count is what RocksDB was given.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CommitterOncePerBatchTest {
    private static final byte[] K = bytes("session-k");

    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();

    @Test
    void aKeyPutManyTimesInOneBatchIsWrittenOnceWithItsLastValue() throws Exception {
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            synchronized (fx.lock) {
                for (int i = 0; i < 50; i++) {
                    c.put(StoreColumn.QUEUES, bytes("q" + i), new byte[]{1});
                    c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("v" + i));
                }
                c.onDurable(completing(done));
            }
            done.get(10, TimeUnit.SECONDS);
            assertEquals(List.of(51), fx.batchWrites, "50 queue puts and one session record");
            assertArrayEquals(bytes("v49"), fx.store.get(StoreColumn.SESSIONS, K));
        }
    }

    @Test
    void aBatchOfOnlyOncePerBatchPutsIsWritten() throws Exception {
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            synchronized (fx.lock) {
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("a"));
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("b"));
            }
            long deadline = System.currentTimeMillis() + 10_000;
            while (fx.store.get(StoreColumn.SESSIONS, K) == null && System.currentTimeMillis() < deadline) {
                Thread.sleep(5);
            }
            assertArrayEquals(bytes("b"), fx.store.get(StoreColumn.SESSIONS, K));
        }
    }

    /** A delete after the pending put: the record is gone at the batch's end, not brought back by it. */
    @Test
    void aDeleteLaterInTheBatchIsNotUndoneByThePendingValue() throws Exception {
        byte[] ranged = bytes("session-r");
        try (org.rocksdb.WriteBatch b = new org.rocksdb.WriteBatch()) {
            b.put(fx.store.handle(StoreColumn.SESSIONS), K, bytes("old"));
            b.put(fx.store.handle(StoreColumn.SESSIONS), ranged, bytes("old"));
            fx.store.write(b);
        }
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            synchronized (fx.lock) {
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("new"));
                c.delete(StoreColumn.SESSIONS, K);
                c.putOncePerBatch(StoreColumn.SESSIONS, ranged, bytes("new"));
                c.deleteRange(StoreColumn.SESSIONS, bytes("session-r"), bytes("session-s"));
                c.putOncePerBatch(StoreColumn.QUEUES, K, bytes("other column")); // not in the deleted range's column
                c.onDurable(completing(done));
            }
            done.get(10, TimeUnit.SECONDS);
            assertNull(fx.store.get(StoreColumn.SESSIONS, K), "deleted after its pending put");
            assertNull(fx.store.get(StoreColumn.SESSIONS, ranged), "range-deleted after its pending put");
            assertArrayEquals(bytes("other column"), fx.store.get(StoreColumn.QUEUES, K));
            assertEquals(List.of(3), fx.batchWrites, "a delete, a range delete and the other column's put");
        }
    }

    /** Deleted, then created again in the same batch (a clean start): the new record is written after the delete. */
    @Test
    void aPutAfterADeleteInTheSameBatchIsWrittenAfterIt() throws Exception {
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            synchronized (fx.lock) {
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("first"));
                c.delete(StoreColumn.SESSIONS, K);
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("second"));
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("third"));
                c.put(StoreColumn.SESSIONS, bytes("plain"), bytes("p1"));
                c.putOncePerBatch(StoreColumn.SESSIONS, bytes("plain"), bytes("p2"));
                c.onDurable(completing(done));
            }
            done.get(10, TimeUnit.SECONDS);
            assertArrayEquals(bytes("third"), fx.store.get(StoreColumn.SESSIONS, K));
            assertArrayEquals(bytes("p2"), fx.store.get(StoreColumn.SESSIONS, bytes("plain")));
        }
    }

    /** A plain put of the key after its pending value: the plain put is the batch's last word. */
    @Test
    void aPlainPutLaterInTheBatchWins() throws Exception {
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            synchronized (fx.lock) {
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("pending"));
                c.put(StoreColumn.SESSIONS, K, bytes("plain"));
                c.onDurable(completing(done));
            }
            done.get(10, TimeUnit.SECONDS);
            assertArrayEquals(bytes("plain"), fx.store.get(StoreColumn.SESSIONS, K));
            assertEquals(List.of(1), fx.batchWrites);
        }
    }

    /**
     * An operation rolled back in the middle of a batch that still commits: the values pending
     * before it are written, not the ones it put, and a key it deleted is written again.
     */
    @Test
    void aRolledBackOperationRestoresThePendingValuesOfTheOperationsBeforeIt() throws Exception {
        byte[] other = bytes("session-o");
        byte[] created = bytes("session-c");
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            synchronized (fx.lock) {
                try (BatchOperation op = c.operation()) {
                    c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("kept-1"));
                    c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("kept-2"));
                    c.putOncePerBatch(StoreColumn.SESSIONS, other, bytes("kept"));
                    op.succeeded();
                }
                try (BatchOperation op = c.operation()) {
                    c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("rolled back"));
                    c.delete(StoreColumn.SESSIONS, other);
                    c.putOncePerBatch(StoreColumn.SESSIONS, created, bytes("rolled back"));
                    c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("rolled back too"));
                    // no succeeded(): closed as a failed operation
                }
                c.onDurable(completing(done));
            }
            done.get(10, TimeUnit.SECONDS);
            assertArrayEquals(bytes("kept-2"), fx.store.get(StoreColumn.SESSIONS, K));
            assertArrayEquals(bytes("kept"), fx.store.get(StoreColumn.SESSIONS, other));
            assertNull(fx.store.get(StoreColumn.SESSIONS, created));
            assertEquals(List.of(2), fx.batchWrites);
        }
    }

    /**
     * A new key ({@link Committer#putNew}) deleted in the same batch writes nothing, neither the
     * put nor a tombstone; one not deleted is written; one deleted inside an operation that is
     * rolled back comes back and is written.
     */
    @Test
    void aNewKeyDeletedInTheSameBatchWritesNothing() throws Exception {
        byte[] gone = bytes("q-gone");
        byte[] kept = bytes("q-kept");
        byte[] restored = bytes("q-restored");
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            synchronized (fx.lock) {
                c.putNew(StoreColumn.QUEUES, gone, bytes("v"));
                c.putNew(StoreColumn.QUEUES, kept, bytes("v"));
                c.putNew(StoreColumn.QUEUES, restored, bytes("v"));
                c.delete(StoreColumn.QUEUES, gone);
                try (BatchOperation op = c.operation()) {
                    c.delete(StoreColumn.QUEUES, restored);
                    // rolled back
                }
                c.onDurable(completing(done));
            }
            done.get(10, TimeUnit.SECONDS);
            assertEquals(List.of(2), fx.batchWrites, "the two remaining puts, no delete");
            assertNull(fx.store.get(StoreColumn.QUEUES, gone));
            assertArrayEquals(bytes("v"), fx.store.get(StoreColumn.QUEUES, kept));
            assertArrayEquals(bytes("v"), fx.store.get(StoreColumn.QUEUES, restored));
        }
    }

    /**
     * Writes that cancel out (a new key deleted in the same batch) leave the open batch empty though
     * something that may not wait joined it: the writer must go on waiting, not take the empty batch
     * for the committer closing and stop. Later commits still complete.
     */
    @Test
    void aBatchWhoseWritesCancelOutLeavesTheWriterWaiting() throws Exception {
        byte[] gone = bytes("q-cancelled");
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            synchronized (fx.lock) {
                c.putNew(StoreColumn.QUEUES, gone, bytes("v"));
                c.delete(StoreColumn.QUEUES, gone); // the batch holds nothing now
            }
            Thread.sleep(200); // the writer looks at the empty batch meanwhile
            CompletableFuture<Void> done = new CompletableFuture<>();
            synchronized (fx.lock) {
                c.put(StoreColumn.SESSIONS, K, bytes("after"));
                c.onDurable(completing(done));
            }
            done.get(10, TimeUnit.SECONDS);
            assertArrayEquals(bytes("after"), fx.store.get(StoreColumn.SESSIONS, K));
            assertNull(fx.store.get(StoreColumn.QUEUES, gone));
        }
    }

    /** Each batch carries its own last values: a key changed in two batches is written once in each. */
    @Test
    void eachBatchWritesItsOwnLastValue() throws Exception {
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            for (int b = 0; b < 5; b++) {
                CompletableFuture<Void> done = new CompletableFuture<>();
                synchronized (fx.lock) {
                    for (int i = 0; i < 10; i++) {
                        c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("b" + b + "-" + i));
                    }
                    c.onDurable(completing(done));
                }
                done.get(10, TimeUnit.SECONDS);
                assertArrayEquals(bytes("b" + b + "-9"), fx.store.get(StoreColumn.SESSIONS, K));
            }
            assertEquals(List.of(1, 1, 1, 1, 1), fx.batchWrites);
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
