package io.durablemq.engine.store;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksIterator;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Queue entries and bodies were deleted with SingleDelete for a while (withdrawn: a cluster node's
 * log replay is not idempotent with it; engine/README.md, "SingleDelete: tried and withdrawn");
 * the churn stays as a guard for whatever deletes them. The keys the engine reuses are the risky ones, and this test makes it reuse both
 * kinds many times: a clean start discards a session with a range delete and its new queue
 * starts again at sequence 1; a restart with no body left starts message ids again at 1. Between
 * rounds every column family is flushed and fully compacted (RocksDB enforces SingleDelete's
 * contract in compaction and fails it on a violation), so later rounds' SingleDeletes meet puts
 * in lower levels. At the end, after a last full compaction, no old key has come back: the
 * store holds exactly the entries and bodies of the last round's queue, `verify` passes, and the
 * queue drains exactly those messages. The store starts with the history an earlier build leaves
 * for those keys (put, then Delete), so the mix with stores written before SingleDelete is covered.
 */
@Timeout(180)
class SingleDeleteChurnTest {
    private static final int ROUNDS = 4;
    private static final int PUBLISHED = 300;
    private static final int LIMIT = 200;

    @TempDir
    Path dir;

    @Test
    void reusedKeysDeletedWithSingleDeleteNeverComeBackAfterFullCompactions() throws Exception {
        writeAnEarlierBuildsHistory();
        for (int round = 0; round < ROUNDS; round++) {
            boolean last = round == ROUNDS - 1;
            try (EngineFixture fx = new EngineFixture(dir, c -> c.withQueueLimits(LIMIT, Long.MAX_VALUE, OverflowPolicy.DROP_OLDEST))) {
                for (String s : new String[]{"a", "b"}) {
                    EngineFixture.Connected c = fx.connect(s, false, 86_400);
                    c.subscribe("c/#", 1);
                    c.disconnect();
                }
                // Clean start: the previous round's "x" (and its range of queue keys) was discarded; seqs start at 1 again.
                EngineFixture.Connected x = fx.connect("x", true, 86_400);
                x.subscribe("c/#", 1);
                x.disconnect();
                EngineFixture.Connected pub = fx.connect("pub", true, 0);
                for (int i = 0; i < PUBLISHED; i++) {
                    pub.publish(i % 65_000 + 1, "c/t", "r" + round + "m" + i, 1); // fan-out to 3; DROP_OLDEST evicts 100 each
                }
                pub.disconnect();
                drain(fx, "a", round);
                drain(fx, "b", round);
                if (!last) {
                    // Discard "x" with its queue: every body goes, so the next start reuses message ids from 1.
                    fx.connect("x", true, 0).disconnect();
                    assertEquals(0, fx.engine().stats().storedBodies(), "round " + round);
                }
            }
            compactEverything(dir);
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), report.toText());
        assertEquals(LIMIT, keys(StoreColumn.QUEUES), "queue entries after the last compaction");
        assertEquals(LIMIT, keys(StoreColumn.MESSAGES), "bodies after the last compaction");
        assertEquals(0, keys(StoreColumn.REFCOUNTS), "count records (x holds each body alone)");
        try (EngineFixture fx = new EngineFixture(dir)) {
            assertEquals(LIMIT, fx.engine().stats().storedBodies());
            drain(fx, "x", ROUNDS - 1);
            assertEquals(0, fx.engine().stats().storedBodies());
        }
        compactEverything(dir);
        assertEquals(0, keys(StoreColumn.QUEUES));
        assertEquals(0, keys(StoreColumn.MESSAGES));
        assertTrue(StoreVerifier.verify(dir).ok());
    }

    /**
     * The check above has teeth: a SingleDelete that meets a Delete of the same key (a key the
     * engine deleted twice, or deleted with both kinds) makes the full compaction fail, as
     * RocksDB enforces SingleDelete's contract there.
     */
    @Test
    void aSingleDeleteMixedWithADeleteFailsTheCompaction() throws Exception {
        byte[] key = Keys.queueEntry(Keys.session("mixed"), 1);
        try (Store store = Store.open(dir, Durability.FSYNC)) {
            try (org.rocksdb.WriteBatch b = new org.rocksdb.WriteBatch()) {
                b.put(store.handle(StoreColumn.QUEUES), key, new byte[]{1});
                store.write(b);
            }
            store.flushAll();
            try (org.rocksdb.WriteBatch b = new org.rocksdb.WriteBatch()) {
                b.delete(store.handle(StoreColumn.QUEUES), key);
                store.write(b);
            }
            store.flushAll();
        }
        // Whichever compaction meets them first fails: the store's own (its options compact files
        // with many deletes), which then fails the flush, or the full one.
        org.rocksdb.RocksDBException e = org.junit.jupiter.api.Assertions.assertThrows(org.rocksdb.RocksDBException.class, () -> {
            try (Store store = Store.open(dir, Durability.FSYNC)) {
                try (org.rocksdb.WriteBatch b = new org.rocksdb.WriteBatch()) {
                    b.singleDelete(store.handle(StoreColumn.QUEUES), key);
                    store.write(b);
                }
                store.flushAll();
            }
            compactEverything(dir);
        });
        assertTrue(String.valueOf(e.getMessage()).contains("SingleDelete"), e.getMessage());
    }

    /**
     * What a store written by an earlier build holds for the keys this test reuses: bodies 1..400
     * and the first 400 queue keys of "a", "b" and "x", each put and then deleted with Delete, in
     * separate files. The engine then puts them again and deletes them with SingleDelete: put,
     * delete, put, SingleDelete, which RocksDB's contract allows (the SingleDelete meets the newer put).
     */
    private void writeAnEarlierBuildsHistory() throws Exception {
        try (Store store = Store.open(dir, Durability.FSYNC)) {
            for (boolean delete : new boolean[]{false, true}) {
                try (org.rocksdb.WriteBatch b = new org.rocksdb.WriteBatch()) {
                    for (int i = 1; i <= 400; i++) {
                        List<byte[]> keys = List.of(Keys.message(i), Keys.queueEntry(Keys.session("a"), i),
                                Keys.queueEntry(Keys.session("b"), i), Keys.queueEntry(Keys.session("x"), i));
                        for (int k = 0; k < keys.size(); k++) {
                            StoreColumn c = k == 0 ? StoreColumn.MESSAGES : StoreColumn.QUEUES;
                            if (delete) {
                                b.delete(store.handle(c), keys.get(k));
                            } else {
                                b.put(store.handle(c), keys.get(k), new byte[]{1});
                            }
                        }
                    }
                    store.write(b);
                }
                store.flushAll();
            }
        }
    }

    /** Receives exactly the newest {@code LIMIT} messages of the round, in order, and acknowledges each. */
    private static void drain(EngineFixture fx, String clientId, int round) {
        EngineFixture.Connected c = fx.connect(clientId, false, 86_400);
        for (int i = PUBLISHED - LIMIT; i < PUBLISHED; i++) {
            RecordingListener.Event e = c.listener().next(Duration.ofSeconds(10));
            assertTrue(e.isPublish(), clientId + " message " + i + ": " + e);
            assertEquals("r" + round + "m" + i, EngineFixture.text(e.publish().message()), clientId);
            await(c.handle().puback(e.publish().packetId()));
        }
        c.listener().expectNothing(Duration.ofMillis(100));
        c.disconnect();
    }

    /** Flushes and fully compacts every column family with RocksDB directly (the engine is closed). */
    private static void compactEverything(Path dir) throws Exception {
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        try (Options o = new Options()) {
            for (byte[] name : RocksDB.listColumnFamilies(o, dir.toString())) {
                descriptors.add(new ColumnFamilyDescriptor(name));
            }
        }
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try (DBOptions options = new DBOptions(); RocksDB db = RocksDB.open(options, dir.toString(), descriptors, handles);
             FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            try {
                db.flush(flush, handles);
                for (ColumnFamilyHandle h : handles) {
                    db.compactRange(h); // fails on a SingleDelete that meets a Delete
                }
            } finally {
                handles.forEach(ColumnFamilyHandle::close);
            }
        }
    }

    private long keys(StoreColumn column) throws Exception {
        try (Store store = Store.open(dir, Durability.FSYNC); RocksIterator it = store.iterator(column)) {
            long n = 0;
            for (it.seekToFirst(); it.isValid(); it.next()) {
                n++;
            }
            it.status();
            return n;
        }
    }
}
