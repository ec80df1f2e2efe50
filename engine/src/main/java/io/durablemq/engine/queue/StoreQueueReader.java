package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * Reads queue pages from RocksDB with one seek and a short forward scan, bounded above by the
 * first key the page may not include (iterate_upper_bound is not needed: the loop stops at the
 * session prefix's end or {@code beforeSeq}). A read error is thrown, never taken for the end of
 * the queue: the caller's counters say how many entries must be there.
 */
public final class StoreQueueReader implements QueuePageReader {
    private static final LongAdder ENTRIES_READ = new LongAdder();
    private static final java.util.Set<String> READER_THREADS = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final Supplier<Store> store;

    public StoreQueueReader(Supplier<Store> store) {
        this.store = store;
    }

    /** Queue entries read from the store by page reads since the JVM started (a test hook). */
    public static long entriesRead() {
        return ENTRIES_READ.sum();
    }

    /** Names of the threads that read queue pages since the last {@link #forgetReaderThreads()} (a test hook). */
    public static java.util.Set<String> readerThreads() {
        return java.util.Set.copyOf(READER_THREADS);
    }

    public static void forgetReaderThreads() {
        READER_THREADS.clear();
    }

    @Override
    public List<QueueEntry> read(byte[] sessionKey, long fromSeq, long beforeSeq, int max) {
        List<QueueEntry> page = new ArrayList<>(Math.min(max, 1024));
        if (max <= 0 || fromSeq >= beforeSeq) {
            return page;
        }
        try (RocksIterator it = store.get().iterator(StoreColumn.QUEUES)) {
            for (it.seek(Keys.queueEntry(sessionKey, fromSeq)); it.isValid() && page.size() < max; it.next()) {
                byte[] key = it.key();
                if (!hasPrefix(key, sessionKey) || key.length != sessionKey.length + 8) {
                    break;
                }
                long seq = Keys.seqOf(key);
                if (seq >= beforeSeq) {
                    break;
                }
                page.add(QueueEntry.decode(seq, it.value()));
            }
            it.status();
        } catch (RocksDBException e) {
            throw new IllegalStateException("reading the queue of '" + Keys.clientIdOf(sessionKey)
                    + "' from seq " + fromSeq + " failed: " + e.getMessage(), e);
        }
        ENTRIES_READ.add(page.size());
        READER_THREADS.add(Thread.currentThread().getName());
        return page;
    }

    private static boolean hasPrefix(byte[] key, byte[] prefix) {
        if (key.length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (key[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }
}
