package io.durablemq.cluster;

import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import org.apache.ratis.protocol.RaftClientReply;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A snapshot request flushes the store first, off the caller's thread, and one runs at a time. */
class SnapshotRequestTest {
    @TempDir
    Path dir;

    @Test
    void theStoreIsFlushedBeforeRatisIsAsked() throws Exception {
        StoreSlot slot = new StoreSlot();
        Store store = Store.open(dir.resolve("data"), Durability.OS);
        slot.attachOwned(store);
        writeSome(store);
        int sstBefore = store.liveSstFiles().size();
        AtomicInteger sstWhenAsked = new AtomicInteger(-1);
        CountDownLatch asked = new CountDownLatch(1);
        try (SnapshotRequest request = new SnapshotRequest(slot, () -> {
            sstWhenAsked.set(store.liveSstFiles().size());
            asked.countDown();
            return new CompletableFuture<>();
        })) {
            request.request(1);
            assertTrue(asked.await(30, TimeUnit.SECONDS), "Ratis was asked for the snapshot");
        } finally {
            slot.close();
        }
        assertEquals(0, sstBefore, "the writes were in memtables only");
        assertTrue(sstWhenAsked.get() > 0, "the memtables were flushed before Ratis was asked: " + sstWhenAsked.get() + " SST files");
    }

    @Test
    void aTriggerWhileOneRequestIsOpenIsDroppedAndTheNextOneAfterItsReplyIsSent() throws Exception {
        StoreSlot slot = new StoreSlot();
        slot.attachOwned(Store.open(dir.resolve("data"), Durability.OS));
        AtomicInteger asks = new AtomicInteger();
        CompletableFuture<RaftClientReply> open = new CompletableFuture<>();
        CountDownLatch second = new CountDownLatch(2);
        try (SnapshotRequest request = new SnapshotRequest(slot, () -> {
            asks.incrementAndGet();
            second.countDown();
            return asks.get() == 1 ? open : new CompletableFuture<>();
        })) {
            request.request(1);
            awaitAsks(asks, 1);
            request.request(2); // the first is not answered yet: dropped
            request.request(3);
            Thread.sleep(200);
            assertEquals(1, asks.get(), "one request at a time");
            open.completeExceptionally(new java.io.IOException("not taken")); // Ratis answered (here: not taken)
            request.request(4);
            assertTrue(second.await(30, TimeUnit.SECONDS), "after the answer a new trigger asks again");
        } finally {
            slot.close();
        }
        assertEquals(2, asks.get());
    }

    @Test
    void withoutAStoreRatisIsStillAsked() throws Exception {
        StoreSlot slot = new StoreSlot(); // a hand-over: nothing to flush; the snapshot itself is postponed by the state machine
        CountDownLatch asked = new CountDownLatch(1);
        try (SnapshotRequest request = new SnapshotRequest(slot, () -> {
            asked.countDown();
            return new CompletableFuture<>();
        })) {
            request.request(1);
            assertTrue(asked.await(30, TimeUnit.SECONDS));
        }
    }

    private static void writeSome(Store store) throws Exception {
        try (WriteBatch batch = new WriteBatch()) {
            for (int i = 0; i < 100; i++) {
                batch.put(store.handle(StoreColumn.MESSAGES), ("k" + i).getBytes(), new byte[64]);
            }
            store.write(batch);
        }
    }

    private static void awaitAsks(AtomicInteger asks, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (asks.get() < n && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(n, asks.get());
    }
}
