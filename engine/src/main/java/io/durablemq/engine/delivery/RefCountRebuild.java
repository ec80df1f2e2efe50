package io.durablemq.engine.delivery;

import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Writes the stored reference counts ({@code refcounts}, only where above 1) and the stored body
 * count ({@link StoreFormat#STORED_BODIES_KEY}) from the entries and bodies a store holds. For the
 * offline paths that produce a store without them: the format-1 upgrade and {@code repair}'s new
 * store. It counts every body's references in memory ({@link RefCounts}, about 16 bytes a body),
 * which those paths can afford once; the engine never does this.
 */
public final class RefCountRebuild {
    private static final int BATCH = 10_000;

    private RefCountRebuild() {
    }

    /** @return the number of count records written */
    public static long rewrite(Store store) {
        RefCounts refs = new RefCounts();
        try {
            try (RocksIterator it = store.iterator(StoreColumn.QUEUES)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    refs.increment(QueueEntry.decode(Keys.seqOf(it.key()), it.value()).messageId());
                }
                it.status();
            }
            try (RocksIterator it = store.iterator(StoreColumn.INFLIGHT)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    long id = InflightEntry.decode(Keys.packetIdOf(it.key()), it.value()).messageId();
                    if (id != 0) {
                        refs.increment(id);
                    }
                }
                it.status();
            }
            long bodies = 0;
            try (RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    bodies++;
                }
                it.status();
            }
            long[] written = {0};
            WriteBatch[] batch = {new WriteBatch()};
            try {
                byte[] end = new byte[9];
                Arrays.fill(end, (byte) 0xff);
                batch[0].deleteRange(store.handle(StoreColumn.REFCOUNTS), new byte[8], end);
                RocksDBException[] failure = {null};
                refs.forEach(id -> {
                    int n = refs.get(id);
                    if (n < 2 || failure[0] != null) {
                        return;
                    }
                    try {
                        batch[0].put(store.handle(StoreColumn.REFCOUNTS), Keys.message(id), ByteBuffer.allocate(4).putInt(n).array());
                        written[0]++;
                        if (batch[0].count() >= BATCH) {
                            store.write(batch[0]);
                            batch[0].close();
                            batch[0] = new WriteBatch();
                        }
                    } catch (RocksDBException e) {
                        failure[0] = e;
                    }
                });
                if (failure[0] != null) {
                    throw failure[0];
                }
                batch[0].put(store.handle(StoreColumn.META), StoreFormat.STORED_BODIES_KEY,
                        ByteBuffer.allocate(8).putLong(bodies).array());
                store.write(batch[0]);
            } finally {
                batch[0].close();
            }
            return written[0];
        } catch (RocksDBException e) {
            throw new IllegalStateException("writing the reference counts of " + store.dir() + " failed: " + e.getMessage(), e);
        }
    }
}
