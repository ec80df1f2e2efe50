package io.durablemq.engine.delivery;

import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.BatchOperation;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.CommitterFixture;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import io.durablemq.engine.support.BatchOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.rocksdb.RocksIterator;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link BodyRefs}'s own lock, without the engine's (issue 12, target 4, step 3 of the
 * partitioned engine): several threads release the entries of the same fan-out bodies at once,
 * each release one operation scope on a real committer and RocksDB store, as the partitions'
 * acknowledgements will. Each operation holds the count lock from its count change until its
 * append, so: every body is found to be last-released exactly once, the store ends with no count
 * record and no body (meta's {@code stored-bodies} 0), every entry's delete is in a batch no later than its body's SingleDelete
 * (invariant 2: never an entry without its body after a crash between batches), and the overlay
 * empties. Without the lock, two releases read the same count and the body is never freed (or
 * freed twice), or an older count is appended after a newer one.
 */
class ConcurrentReleasesTest {
    private static final int THREADS = 4;
    private static final int BODIES = 400;

    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();

    /** The writes of each batch given to the log, in commit order. */
    private final List<List<BatchOps.Op>> batches = new CopyOnWriteArrayList<>();
    private final BatchLog recording = (s, batch) -> {
        batches.add(BatchOps.of(s, batch));
        s.write(batch);
    };

    private static byte[] entryKey(int thread, long messageId) {
        return Keys.queueEntry(Keys.session("s" + thread), messageId);
    }

    @Test
    @Timeout(120)
    void concurrentReleasesOfOneFanOutBodyFreeItOnceAfterEveryEntry() throws Exception {
        BodyRefs refs = new BodyRefs(() -> fx.store);
        try (Committer c = fx.committer(CommitFaults.NONE, recording, 2)) {
            c.requireOperationScope();
            c.lastWrites(refs); // each batch carries meta's stored-bodies, from its own writes
            // Routing: each body stored once with one entry per thread, as a fan-out to THREADS sessions.
            try (BatchOperation op = c.operation()) {
                for (long id = 1; id <= BODIES; id++) {
                    c.put(StoreColumn.MESSAGES, Keys.message(id), new byte[]{1});
                    refs.bodyStored();
                    for (int t = 0; t < THREADS; t++) {
                        c.putNew(StoreColumn.QUEUES, entryKey(t, id), new byte[]{2});
                    }
                    refs.routed(id, THREADS, c);
                }
                op.succeeded();
            }
            durable(c);
            assertEquals(BODIES, countRecords(StoreColumn.REFCOUNTS), "a count record per fan-out body");
            assertEquals(BODIES, storedBodiesRecord(), "meta's stored-bodies after routing");

            AtomicIntegerArray lastReleases = new AtomicIntegerArray(BODIES + 1);
            CountDownLatch start = new CountDownLatch(1);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int thread = t;
                    done.add(pool.submit(() -> {
                        List<Long> ids = new ArrayList<>();
                        for (long id = 1; id <= BODIES; id++) {
                            ids.add(id);
                        }
                        Collections.shuffle(ids);
                        start.await();
                        for (long id : ids) {
                            // One acknowledgement: the entry leaves its queue, its body loses a reference.
                            try (BatchOperation op = c.operation()) {
                                c.singleDelete(StoreColumn.QUEUES, entryKey(thread, id));
                                if (refs.release(id, false, c)) {
                                    c.singleDelete(StoreColumn.MESSAGES, Keys.message(id));
                                    lastReleases.incrementAndGet((int) id);
                                }
                                if (ThreadLocalRandom.current().nextInt(8) == 0) {
                                    Thread.yield(); // the rest of an operation (a pump, a send) before its append
                                }
                                op.succeeded();
                            }
                        }
                        return null;
                    }));
                }
                start.countDown();
                for (Future<?> f : done) {
                    f.get(90, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            durable(c);

            for (int id = 1; id <= BODIES; id++) {
                assertEquals(1, lastReleases.get(id), "body " + id + " found to be last-released");
            }
            assertEquals(0, countRecords(StoreColumn.REFCOUNTS), "count records left");
            assertEquals(0, countRecords(StoreColumn.MESSAGES), "bodies left");
            assertEquals(0, countRecords(StoreColumn.QUEUES), "entries left");
            assertEquals(0, refs.storedBodies(), "live body count");
            assertEquals(0, storedBodiesRecord(), "meta's stored-bodies once every body is freed");
            assertEquals(0, refs.overlaySize(), "overlay entries left once every batch is written");
            assertEntriesDeletedNoLaterThanTheirBody();
        }
        assertEquals(0, fx.commitFailures.get());
    }

    /** Invariant 2 across batches: a body's SingleDelete is in a batch at or after every one of its entries' deletes. */
    private void assertEntriesDeletedNoLaterThanTheirBody() {
        for (long id = 1; id <= BODIES; id++) {
            int bodyBatch = lastBatchWriting(StoreColumn.MESSAGES, Keys.message(id));
            for (int t = 0; t < THREADS; t++) {
                int entryBatch = lastBatchWriting(StoreColumn.QUEUES, entryKey(t, id));
                assertTrue(entryBatch >= 0 && bodyBatch >= entryBatch,
                        "body " + id + " deleted in batch " + bodyBatch + ", its entry of s" + t + " in batch " + entryBatch);
            }
        }
    }

    private int lastBatchWriting(StoreColumn column, byte[] key) {
        int found = -1;
        for (int b = 0; b < batches.size(); b++) {
            for (BatchOps.Op op : batches.get(b)) {
                if (op.column() == column && Arrays.equals(op.key(), key)) {
                    found = b;
                }
            }
        }
        return found;
    }

    private long storedBodiesRecord() {
        byte[] v = fx.store.get(StoreColumn.META, StoreFormat.STORED_BODIES_KEY);
        return v == null ? -1 : ByteBuffer.wrap(v).getLong();
    }

    private long countRecords(StoreColumn column) {
        long n = 0;
        try (RocksIterator it = fx.store.iterator(column)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                n++;
            }
        }
        return n;
    }

    private static void durable(Committer c) throws Exception {
        CompletableFuture<Void> f = new CompletableFuture<>();
        c.onDurable(CommitterFixture.completing(f));
        f.get(CommitterFixture.WAIT_SECONDS, TimeUnit.SECONDS);
    }
}
