package io.durablemq.engine.message;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

class BodyCacheTest {
    @Test
    void pinnedBodiesOutliveEvictionUntilUnpinned() {
        BodyCache cache = new BodyCache(1024);
        Message big = Message.of("t", new byte[64 * 1024], 1);
        cache.put(1, big);
        cache.pin(1, big);
        cache.put(2, Message.of("t", new byte[64 * 1024], 1)); // evicts 1 from the bounded part
        assertSame(big, cache.get(1), "pinned: still served");
        cache.unpin(1);
        assertNull(cache.get(1), "unpinned: the bound applies again");
        assertEquals(0, cache.pinnedCount());
    }

    @Test
    void removeAndClearDropPinsToo() {
        BodyCache cache = new BodyCache(1024);
        Message m = Message.of("t", new byte[10], 1);
        cache.pin(1, m);
        cache.pin(2, m);
        cache.remove(1);
        assertNull(cache.get(1));
        cache.clear();
        assertNull(cache.get(2));
        assertEquals(0, cache.pinnedCount());
    }
}
