package io.durablemq.engine.message;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Recently published or read message bodies, bounded by bytes, so the common case (a
 * subscriber online when the message arrives) never reads the store.
 *
 * <p>Besides, bodies whose batch is not written yet are pinned: held outside the bound until
 * the commit, because the store cannot serve them before and an early send must find them.
 */
public final class BodyCache {
    private final long maxBytes;
    private final LinkedHashMap<Long, Message> map = new LinkedHashMap<>(1024, 0.75f, true);
    private final Map<Long, Message> pinned = new java.util.HashMap<>();
    private long bytes;

    public BodyCache(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    public synchronized Message get(long id) {
        Message m = map.get(id);
        return m != null ? m : pinned.get(id);
    }

    /** Whether the body is in memory, without refreshing its place in the eviction order (the read-ahead's check). */
    public synchronized boolean contains(long id) {
        return map.containsKey(id) || pinned.containsKey(id);
    }

    /** Keeps {@code m} whatever the bound until {@link #unpin}: its batch is not written yet. */
    public synchronized void pin(long id, Message m) {
        pinned.put(id, m);
    }

    /** The store holds the body now (or the engine resets): the bound applies again. */
    public synchronized void unpin(long id) {
        pinned.remove(id);
    }

    public synchronized int pinnedCount() {
        return pinned.size();
    }

    public synchronized void put(long id, Message m) {
        Message old = map.put(id, m);
        if (old != null) {
            bytes -= old.sizeEstimate();
        }
        bytes += m.sizeEstimate();
        var it = map.entrySet().iterator();
        while (bytes > maxBytes && it.hasNext()) {
            Map.Entry<Long, Message> e = it.next();
            bytes -= e.getValue().sizeEstimate();
            it.remove();
        }
    }

    public synchronized void remove(long id) {
        pinned.remove(id);
        Message old = map.remove(id);
        if (old != null) {
            bytes -= old.sizeEstimate();
        }
    }

    public synchronized void clear() {
        map.clear();
        pinned.clear();
        bytes = 0;
    }
}
