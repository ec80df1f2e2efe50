package io.durablemq.engine.store;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.support.BodiesPutTwiceBatchLog;
import io.durablemq.engine.support.CompactedStoreCheck;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static io.durablemq.engine.support.CompactedStoreCheck.compactEverything;
import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Queue entries and bodies are deleted with SingleDelete (engine/README.md, "SingleDelete"): each
 * such key is put once before its delete. This test reuses keys wherever the engine still does: a
 * clean start discards a session with a range delete and its new queue starts again at sequence 1,
 * so the queue keys of "x" are put, range-deleted, put again and single-deleted, round after round;
 * message ids are no longer reused ({@code message.MessageIds}), but the store starts with the
 * history an earlier build left for the first ids and queue keys (put, then Delete), so the ids of
 * the first round are put a second time after a Delete. Between rounds every column family is
 * flushed and fully compacted (so later SingleDeletes meet puts in lower levels, and RocksDB fails
 * the compaction if a SingleDelete meets a Delete). At the end no old key has come back: the store
 * holds exactly the last round's queue of "x", {@code verify} passes after a last full compaction,
 * and the queue drains exactly those messages.
 *
 * <p>The check has teeth: the same churn with every body put twice (as a non-exact replay or a
 * reused id would do) makes it fail, with bodies that came back as orphans.
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
        churn(ROUNDS, BatchLog.LOCAL);
        VerifyReport report = CompactedStoreCheck.assertNothingCameBack(dir);
        assertEquals(LIMIT, (long) report.records().get(StoreColumn.QUEUES), "queue entries after the last compaction");
        assertEquals(LIMIT, CompactedStoreCheck.keys(dir, StoreColumn.MESSAGES), "bodies after the last compaction");
        assertEquals(0, CompactedStoreCheck.keys(dir, StoreColumn.REFCOUNTS), "count records (x holds each body alone)");
        try (EngineFixture fx = new EngineFixture(dir)) {
            assertEquals(LIMIT, fx.engine().stats().storedBodies());
            drain(fx, "x", ROUNDS - 1);
            assertEquals(0, fx.engine().stats().storedBodies());
        }
        CompactedStoreCheck.assertNothingCameBack(dir);
        assertEquals(0, CompactedStoreCheck.keys(dir, StoreColumn.QUEUES));
        assertEquals(0, CompactedStoreCheck.keys(dir, StoreColumn.MESSAGES));
    }

    /**
     * Bodies of 4 KiB and more live in blob files (profile TUNED_BLOBS, the default): in the SST
     * files a body's key then holds a blob reference, and its SingleDelete must cancel that
     * reference in compaction like a value. 300 bodies of 8 KiB, 100 evicted while queued (their
     * SingleDelete meets the put in the memtable); the 200 left are flushed into a blob file, then
     * delivered and acknowledged: none comes back after a full compaction.
     */
    @Test
    void largeBodiesInBlobFilesAreSingleDeletedWithoutComingBack() throws Exception {
        String large = "b".repeat(8_192);
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withQueueLimits(LIMIT, Long.MAX_VALUE, OverflowPolicy.DROP_OLDEST))) {
            EngineFixture.Connected a = fx.connect("a", false, 86_400);
            a.subscribe("c/#", 1);
            a.disconnect();
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int i = 0; i < PUBLISHED; i++) {
                pub.publish(i + 1, "c/t", "m" + i + " " + large, 1);
            }
            pub.disconnect();
        }
        try (Store store = Store.open(dir, Durability.FSYNC)) {
            store.flushAll();
        }
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(dir)) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().endsWith(".blob")), "the queued bodies went to a blob file");
        }
        try (EngineFixture fx = new EngineFixture(dir)) {
            EngineFixture.Connected a = fx.connect("a", false, 86_400);
            for (int i = PUBLISHED - LIMIT; i < PUBLISHED; i++) {
                RecordingListener.Event e = a.listener().next(Duration.ofSeconds(10));
                assertTrue(e.isPublish(), "message " + i + ": " + e);
                assertEquals("m" + i + " " + large, EngineFixture.text(e.publish().message()));
                await(a.handle().puback(e.publish().packetId()));
            }
            a.disconnect();
            assertEquals(0, fx.engine().stats().storedBodies());
        }
        CompactedStoreCheck.assertNothingCameBack(dir);
        assertEquals(0, CompactedStoreCheck.keys(dir, StoreColumn.QUEUES));
        assertEquals(0, CompactedStoreCheck.keys(dir, StoreColumn.MESSAGES));
    }

    /**
     * Mutation check: the same churn, but every body is put a second time just before its
     * SingleDelete, its first put already in an SST file ({@link BodiesPutTwiceBatchLog}: what the
     * old non-exact replay or a reused id did). RocksDB then drops each tombstone with the newer
     * put and the older put comes back at the flush: the check above must see those bodies.
     */
    @Test
    void theCheckSeesBodiesThatCameBackWhenABodyIsPutTwice() throws Exception {
        churn(1, new BodiesPutTwiceBatchLog()); // the 100 evicted messages' bodies are single-deleted, the rest "x" holds
        AssertionError seen = assertThrows(AssertionError.class, () -> CompactedStoreCheck.assertNothingCameBack(dir));
        assertTrue(seen.getMessage().contains("message bodies no entry references"), seen.getMessage());
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.records().get(StoreColumn.MESSAGES) > LIMIT,
                "evicted bodies came back beside the " + LIMIT + " still queued: " + report.toText());
    }

    /**
     * {@code rounds} rounds: "a" and "b" (persistent) and "x" (clean start each round) subscribe,
     * 300 QoS 1 messages fan out to all three (DROP_OLDEST at 200 evicts 100 from each), "a" and
     * "b" drain theirs; before every round but the last, "x" is discarded with its queue (every
     * body goes). Between rounds the store is closed, flushed and fully compacted.
     */
    private void churn(int rounds, BatchLog batchLog) throws Exception {
        for (int round = 0; round < rounds; round++) {
            boolean last = round == rounds - 1;
            try (EngineFixture fx = new EngineFixture(dir, c -> c.withQueueLimits(LIMIT, Long.MAX_VALUE, OverflowPolicy.DROP_OLDEST),
                    batchLog)) {
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
                    // Discard "x" with its queue (a range delete): every body goes.
                    fx.connect("x", true, 0).disconnect();
                    assertEquals(0, fx.engine().stats().storedBodies(), "round " + round);
                }
            }
            compactEverything(dir);
        }
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
        org.rocksdb.RocksDBException e = assertThrows(org.rocksdb.RocksDBException.class, () -> {
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
}
