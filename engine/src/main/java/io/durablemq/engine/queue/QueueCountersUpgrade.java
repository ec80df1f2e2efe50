package io.durablemq.engine.queue;

import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;

/**
 * Upgrades a format-1 store to format 2: counts each session's queue entries once (one scan of
 * {@code queues}, O(sessions) memory), rewrites every session record as version 2 with those
 * counters, and writes format version 2 last, synced. A crash in the middle leaves format 1
 * with some records already rewritten; the next open runs the whole upgrade again, so it never
 * depends on a half-done one. Kept apart from {@code Store} so that other format-2 steps can be
 * chained beside it.
 */
public final class QueueCountersUpgrade {
    private static final Logger log = LoggerFactory.getLogger(QueueCountersUpgrade.class);
    private static final int BATCH = 10_000;

    private QueueCountersUpgrade() {
    }

    /** @return true if the store was format 1 and is now format 2 */
    public static boolean upgradeIfNeeded(Store store) {
        byte[] v = store.get(StoreColumn.META, StoreFormat.VERSION_KEY);
        if (v == null || v.length != 4 || ByteBuffer.wrap(v).getInt() != 1) {
            return false; // a new store, already format 2, or damage that recovery reports
        }
        long t0 = System.nanoTime();
        Map<String, long[]> counted = countQueues(store);
        long sessions = 0;
        try {
            WriteBatch batch = new WriteBatch();
            try (RocksIterator it = store.iterator(StoreColumn.SESSIONS)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    String clientId = Keys.clientIdOf(it.key());
                    SessionRecord r = SessionRecord.decode(it.value());
                    long[] c = counted.getOrDefault(clientId, new long[3]);
                    QueueCounters q = new QueueCounters(c[0], c[1], c[2] + 1);
                    batch.put(store.handle(StoreColumn.SESSIONS), it.key(), r.withQueue(q).encode());
                    sessions++;
                    if (batch.count() >= BATCH) {
                        store.write(batch);
                        batch.close();
                        batch = new WriteBatch();
                    }
                }
                it.status();
            }
            store.write(batch);
            batch.close();
            batch = new WriteBatch();
            // Format 2 keeps bodies' reference counts in the store: written before the version, like the counters.
            io.durablemq.engine.delivery.RefCountRebuild.rewrite(store);
            batch.put(store.handle(StoreColumn.META), StoreFormat.VERSION_KEY, ByteBuffer.allocate(4).putInt(2).array());
            store.write(batch); // synced in fsync mode; the upgrade runs again if it is lost
            batch.close();
            store.flushAll(); // the format record reaches an SST even in `os` durability mode
        } catch (RocksDBException e) {
            throw new IllegalStateException("upgrading the store to format 2 failed: " + e.getMessage(), e);
        }
        log.info("upgraded the store in {} from format 1 to format 2: column families {} added, queue counters of {}"
                        + " sessions and the bodies' reference counts written in {} ms", store.dir(),
                io.durablemq.engine.store.StoreColumn.WILLS.cfName() + ", " + StoreColumn.REFCOUNTS.cfName(),
                sessions, (System.nanoTime() - t0) / 1_000_000);
        return true;
    }

    /** Messages, bytes and highest seq of each session's queue, by client id. */
    private static Map<String, long[]> countQueues(Store store) {
        Map<String, long[]> counted = new HashMap<>();
        try (RocksIterator it = store.iterator(StoreColumn.QUEUES)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                byte[] key = it.key();
                long[] c = counted.computeIfAbsent(Keys.clientIdOf(key), x -> new long[3]);
                c[0]++;
                c[1] += io.durablemq.engine.delivery.QueueEntry.decode(Keys.seqOf(key), it.value()).size();
                c[2] = Math.max(c[2], Keys.seqOf(key));
            }
            it.status();
        } catch (RocksDBException e) {
            throw new IllegalStateException("upgrading the store to format 2: the queues cannot be read: " + e.getMessage(), e);
        }
        return counted;
    }
}
