package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.BodyCache;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * Reads the bodies a queue page references, on the read-ahead thread with the page itself, so
 * that their sends find them in memory instead of reading RocksDB one by one on the thread that
 * sends (in the broker, the subscriber's Netty event loop, right after its PUBACK).
 *
 * <p>Only bodies not in memory already are read, in message-id order (one {@link Store#multiGet}
 * of sorted keys: the store's key order), and only up to {@link #maxBytes} per page (by the
 * entries' sizes, but always at least one), so a page of large messages cannot fill the heap:
 * the rest is read by the next request. A body the store does not hold is answered as
 * {@code null} (read, not found): delivery then lets its send report it, as a send always did.
 */
public final class PageBodyReader {
    private final Supplier<Store> store;
    private final BodyCache cache;
    private final long maxBytes;

    /**
     * @param maxBytes bodies read per page at most, by the entries' sizes; keep it well below the
     *                 body cache's bound, which holds the bodies until their sends take them
     */
    public PageBodyReader(Supplier<Store> store, BodyCache cache, long maxBytes) {
        if (maxBytes < 0) {
            throw new IllegalArgumentException("maxBytes must not be negative: " + maxBytes);
        }
        this.store = store;
        this.cache = cache;
        this.maxBytes = maxBytes;
    }

    /**
     * Off the engine's lock, under the store lock's read side: the bodies of {@code entries} that
     * are not in memory, by message id, {@code null} for an id read and not found.
     */
    public Map<Long, Message> read(List<QueueEntry> entries) {
        List<Long> ids = new ArrayList<>();
        long bytes = 0;
        long last = Long.MIN_VALUE;
        boolean sorted = true;
        Set<Long> seen = new HashSet<>();
        for (QueueEntry e : entries) {
            if (bytes >= maxBytes) {
                break;
            }
            long id = e.messageId();
            if (!seen.add(id) || cache.contains(id)) {
                continue;
            }
            ids.add(id);
            bytes += e.size();
            sorted &= id > last;
            last = id;
        }
        if (!sorted) {
            ids.sort(null); // ids grow with routing order, so a queue's page is nearly always sorted already
        }
        return readSorted(ids);
    }

    /**
     * Off the engine's lock, under the store lock's read side: the bodies of {@code messageIds}
     * not in memory (an in-flight window to resend at reconnect), in one {@code MultiGet} of
     * sorted keys, with no byte bound: every one of them is sent at once (the window is bounded
     * by {@code max_inflight}), so each would be read anyway, one by one at its send.
     */
    public Map<Long, Message> readIds(Collection<Long> messageIds) {
        List<Long> ids = new ArrayList<>(new TreeSet<>(messageIds));
        ids.removeIf(cache::contains);
        return readSorted(ids);
    }

    private Map<Long, Message> readSorted(List<Long> ids) {
        if (ids.isEmpty()) {
            return Map.of();
        }
        List<byte[]> keys = new ArrayList<>(ids.size());
        for (long id : ids) {
            keys.add(Keys.message(id));
        }
        List<byte[]> values = store.get().multiGet(StoreColumn.MESSAGES, keys);
        Map<Long, Message> bodies = new HashMap<>(ids.size() * 2);
        for (int i = 0; i < ids.size(); i++) {
            byte[] raw = values.get(i);
            bodies.put(ids.get(i), raw == null ? null : MessageCodec.decode(raw));
        }
        return bodies;
    }
}
