package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PagedQueue} against a real store, driven as the engine drives it: entries written to
 * RocksDB, reported written, read back in pages; page answers that arrive after the queue moved
 * are dropped, never applied twice or out of order.
 */
class PagedQueueTest {
    private static final byte[] KEY = Keys.session("c");

    @TempDir
    Path dir;

    private static QueueEntry entry(long seq) {
        return new QueueEntry(seq, seq, 1, false, 0, 0, 10, new int[0]);
    }

    /** Adds {@code n} entries as routing does, writes them to the store, and reports them written. */
    private static void addWritten(PagedQueue q, Store store, int n) throws Exception {
        long last = 0;
        try (WriteBatch b = new WriteBatch()) {
            for (int i = 0; i < n; i++) {
                QueueEntry e = entry(q.takeSeq());
                q.add(e);
                b.put(store.handle(StoreColumn.QUEUES), Keys.queueEntry(KEY, e.seq()), e.encodeValue());
                last = e.seq();
            }
            store.write(b);
        }
        q.written(last);
    }

    private static List<Long> drainInMemoryAndPaged(PagedQueue q, QueuePageReader reader) {
        List<Long> seqs = new ArrayList<>();
        while (!q.isEmpty()) {
            QueueEntry e = q.pollInMemory();
            if (e == null) {
                PagedQueue.PageRequest r = q.pageToRead();
                assertNotNull(r, "nothing in memory, nothing asked for, yet " + q.messages() + " queued");
                assertTrue(q.pageRead(r, reader.read(KEY, r.fromSeq(), r.beforeSeq(), r.count())));
                continue;
            }
            seqs.add(e.seq());
        }
        return seqs;
    }

    @Test
    void aStaleAnswerIsDroppedAndTheQueueStaysInOrder() throws Exception {
        try (Store store = Store.open(dir, Durability.OS)) {
            StoreQueueReader reader = new StoreQueueReader(() -> store);
            PagedQueue q = new PagedQueue(KEY);
            addWritten(q, store, 200);
            assertEquals(PagedQueue.MIN_HEAD, q.headSize());
            for (int i = 0; i < 40; i++) {
                q.pollInMemory();
            }
            PagedQueue.PageRequest r = q.pageToRead();
            assertNotNull(r);
            assertNull(q.pageToRead(), "one request at a time");
            List<QueueEntry> answer = reader.read(KEY, r.fromSeq(), r.beforeSeq(), r.count());
            // Meanwhile an eviction reads synchronously: the answer above is now stale.
            assertEquals(41, q.poll(reader).seq());
            assertFalse(q.pageRead(r, answer));
            List<Long> rest = drainInMemoryAndPaged(q, reader);
            assertEquals(159, rest.size());
            for (int i = 0; i < rest.size(); i++) {
                assertEquals(42 + i, rest.get(i));
            }
        }
    }

    @Test
    void aPageAskedForOnlineDoesNotGrowTheHeadPastItsOfflineBound() throws Exception {
        try (Store store = Store.open(dir, Durability.OS)) {
            StoreQueueReader reader = new StoreQueueReader(() -> store);
            PagedQueue q = new PagedQueue(KEY);
            q.fitWindow(100); // online, window 100: a head of 200
            addWritten(q, store, 400);
            for (int i = 0; i < 150; i++) {
                q.pollInMemory();
            }
            PagedQueue.PageRequest r = q.pageToRead();
            assertNotNull(r);
            List<QueueEntry> answer = reader.read(KEY, r.fromSeq(), r.beforeSeq(), r.count());
            q.fitWindow(0); // the session goes offline before the reader thread's answer is applied
            assertFalse(q.pageRead(r, answer), "an answer sized for the online head must be dropped");
            assertTrue(q.headSize() <= PagedQueue.MIN_HEAD, "head " + q.headSize());
            List<Long> rest = drainInMemoryAndPaged(q, reader);
            assertEquals(250, rest.size());
            for (int i = 0; i < rest.size(); i++) {
                assertEquals(151 + i, rest.get(i));
            }
        }
    }

    @Test
    void aCurrentAnswerShorterThanTheCountersIsRefusedNotTakenForTheEnd() throws Exception {
        try (Store store = Store.open(dir, Durability.OS)) {
            StoreQueueReader reader = new StoreQueueReader(() -> store);
            PagedQueue q = new PagedQueue(KEY);
            addWritten(q, store, 100);
            for (int i = 0; i < 64; i++) {
                q.pollInMemory();
            }
            try (WriteBatch b = new WriteBatch()) {
                b.delete(store.handle(StoreColumn.QUEUES), Keys.queueEntry(KEY, 70)); // lost behind the engine's back
                store.write(b);
            }
            PagedQueue.PageRequest r = q.pageToRead();
            List<QueueEntry> page = reader.read(KEY, r.fromSeq(), r.beforeSeq(), r.count());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> q.pageRead(r, page));
            assertTrue(e.getMessage().contains("counters say 36 entries are stored from seq 65"), e.getMessage());
        }
    }

    @Test
    void anUnwrittenTailIsTakenFromMemoryAfterTheDiskPart() throws Exception {
        try (Store store = Store.open(dir, Durability.OS)) {
            StoreQueueReader reader = new StoreQueueReader(() -> store);
            PagedQueue q = new PagedQueue(KEY);
            addWritten(q, store, 100); // 64 in the head, 36 on disk
            for (int i = 0; i < 20; i++) {
                assertTrue(q.add(entry(q.takeSeq())), "past a full head: unwritten tail"); // never written
            }
            assertEquals(20, q.unwrittenSize());
            List<Long> seqs = drainInMemoryAndPaged(q, reader);
            assertEquals(120, seqs.size());
            for (int i = 0; i < 120; i++) {
                assertEquals(i + 1, seqs.get(i));
            }
        }
    }
}
