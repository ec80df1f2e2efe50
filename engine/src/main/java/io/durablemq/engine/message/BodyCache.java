package io.durablemq.engine.message;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Recently published or read message bodies, bounded by bytes, so the common case (a
 * subscriber online when the message arrives) never reads the store.
 */
public final class BodyCache {
    private final long maxBytes;
    private final LinkedHashMap<Long, Message> map = new LinkedHashMap<>(1024, 0.75f, true);
    private long bytes;

    public BodyCache(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    public synchronized Message get(long id) {
        return map.get(id);
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
        Message old = map.remove(id);
        if (old != null) {
            bytes -= old.sizeEstimate();
        }
    }

    public synchronized void clear() {
        map.clear();
        bytes = 0;
    }
}
