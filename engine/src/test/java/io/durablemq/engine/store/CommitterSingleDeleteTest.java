package io.durablemq.engine.store;

import io.durablemq.engine.support.BatchOps;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.support.BatchOps.Kind.PUT;
import static io.durablemq.engine.support.BatchOps.Kind.SINGLE_DELETE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Committer#singleDelete} on a real store, each batch's writes read back from the
 * {@code WriteBatch} the committer handed to its log. Each scenario appends a whole batch while
 * holding the committer's lock, so what it asserts is one batch.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CommitterSingleDeleteTest {
    private static final byte[] K = bytes("key-k");
    private static final byte[] OTHER = bytes("key-o");

    @TempDir
    Path dir;
    Store store;
    final Object lock = new Object();
    /** The writes of each batch given to the log, in commit order. */
    final List<List<BatchOps.Op>> batches = new CopyOnWriteArrayList<>();
    final BatchLog recording = (s, batch) -> {
        batches.add(BatchOps.of(s, batch));
        s.write(batch);
    };
    final Committer.Observer observer = new Committer.Observer() {
        @Override
        public void committed(int writes, int completions, long nanos) {
        }

        @Override
        public void commitFailed(StoreWriteException cause) {
        }
    };

    @BeforeEach
    void open() throws Exception {
        store = Store.open(dir.resolve("store"), Durability.OS);
    }

    @AfterEach
    void close() {
        store.close();
    }

    private Committer committer() {
        return new Committer(store, observer, lock, CommitFaults.NONE, recording, 1);
    }

    /** A key put in one batch and single-deleted in a later one: the later batch holds a SingleDelete, and the key is gone, flushed too. */
    @Test
    void aKeyPutOnceIsSingleDeletedInALaterBatch() throws Exception {
        try (Committer c = committer()) {
            commit(c, () -> c.put(StoreColumn.MESSAGES, K, bytes("body")));
            commit(c, () -> c.singleDelete(StoreColumn.MESSAGES, K));
            assertEquals(1, batches.get(1).size(), String.valueOf(batches));
            assertTrue(batches.get(1).get(0).is(SINGLE_DELETE, StoreColumn.MESSAGES, K), String.valueOf(batches));
            assertNull(store.get(StoreColumn.MESSAGES, K));
            store.flushAll();
            assertNull(store.get(StoreColumn.MESSAGES, K));
        }
    }

    /**
     * A put appended by {@code put} and single-deleted in the same batch (a body stored and
     * released by one operation): both are written, the SingleDelete after the put it belongs to.
     */
    @Test
    void aPlainPutAndItsSingleDeleteInOneBatchAreWrittenInOrder() throws Exception {
        try (Committer c = committer()) {
            commit(c, () -> {
                c.put(StoreColumn.MESSAGES, K, bytes("body"));
                c.singleDelete(StoreColumn.MESSAGES, K);
            });
            List<BatchOps.Op> ops = batches.get(0);
            assertEquals(2, ops.size(), String.valueOf(ops));
            assertTrue(ops.get(0).is(PUT, StoreColumn.MESSAGES, K) && ops.get(1).is(SINGLE_DELETE, StoreColumn.MESSAGES, K),
                    String.valueOf(ops));
            assertNull(store.get(StoreColumn.MESSAGES, K));
        }
    }

    /**
     * A fresh put ({@code putNew}, a queue entry's new sequence number) single-deleted in the same
     * batch writes nothing at all for the key: no put and, above all, no SingleDelete, which with
     * no put of its own to meet could consume an older put of the key.
     */
    @Test
    void aFreshPutSingleDeletedInTheSameBatchWritesNothing() throws Exception {
        try (Committer c = committer()) {
            commit(c, () -> {
                c.putNew(StoreColumn.QUEUES, K, bytes("entry"));
                c.putNew(StoreColumn.QUEUES, OTHER, bytes("entry"));
                c.singleDelete(StoreColumn.QUEUES, K);
            });
            List<BatchOps.Op> ops = batches.get(0);
            assertEquals(1, ops.size(), "only the other key's put: " + ops);
            assertTrue(ops.get(0).is(PUT, StoreColumn.QUEUES, OTHER), String.valueOf(ops));
            assertNull(store.get(StoreColumn.QUEUES, K));
        }
    }

    /**
     * Operations rolled back take their SingleDeletes out: one of a stored key (the key stays),
     * and one that had dropped a fresh put of an earlier operation in the batch (the put comes
     * back and is written).
     */
    @Test
    void aRolledBackOperationTakesItsSingleDeletesOut() throws Exception {
        try (Committer c = committer()) {
            commit(c, () -> c.put(StoreColumn.MESSAGES, K, bytes("body")));
            commit(c, () -> {
                try (BatchOperation op = c.operation()) {
                    c.putNew(StoreColumn.QUEUES, OTHER, bytes("entry"));
                    op.succeeded();
                }
                try (BatchOperation op = c.operation()) {
                    c.singleDelete(StoreColumn.MESSAGES, K);
                    c.singleDelete(StoreColumn.QUEUES, OTHER);
                    // no succeeded(): rolled back
                }
            });
            List<BatchOps.Op> ops = batches.get(1);
            assertEquals(1, ops.size(), "only the first operation's put: " + ops);
            assertTrue(ops.get(0).is(PUT, StoreColumn.QUEUES, OTHER), String.valueOf(ops));
            assertArrayEquals(bytes("body"), store.get(StoreColumn.MESSAGES, K));
            assertArrayEquals(bytes("entry"), store.get(StoreColumn.QUEUES, OTHER));
        }
    }

    /** A key rewritten once per batch is not put once: its SingleDelete is refused, and the batch is unchanged. */
    @Test
    void aSingleDeleteOfARewrittenKeyIsRefusedAndChangesNothing() throws Exception {
        try (Committer c = committer()) {
            commit(c, () -> {
                c.putOncePerBatch(StoreColumn.SESSIONS, K, bytes("record"));
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.singleDelete(StoreColumn.SESSIONS, K));
                assertTrue(e.getMessage().contains("put once"), e.getMessage());
            });
            assertEquals(1, batches.get(0).size(), String.valueOf(batches));
            assertArrayEquals(bytes("record"), store.get(StoreColumn.SESSIONS, K));
        }
    }

    /** Appends {@code writes} and a completion under the lock (one batch), then waits until it is durable. */
    private void commit(Committer c, Runnable writes) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        synchronized (lock) {
            writes.run();
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    done.complete(null);
                }

                @Override
                public void failed(Throwable cause) {
                    done.completeExceptionally(cause);
                }
            });
        }
        done.get(10, TimeUnit.SECONDS);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
