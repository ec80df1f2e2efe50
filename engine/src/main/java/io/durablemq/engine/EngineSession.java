package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.Outbox;
import io.durablemq.engine.delivery.PacketIdAllocator;
import io.durablemq.engine.queue.PagedQueue;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.topic.SubscriptionOptions;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Set;

/**
 * The in-memory image of one session, guarded by the engine's lock. Everything here that
 * must survive a crash is mirrored in the store by the same operation that changes it.
 */
final class EngineSession {
    final String clientId;
    final byte[] key;

    long expirySeconds;
    long disconnectedAtMillis;

    /** Bumped whenever a connection attaches or leaves; handles of other generations are stale. */
    long generation;
    SessionListener listener;
    boolean deliveryStarted;
    int window = 1;

    final LinkedHashMap<String, SubscriptionOptions> subscriptions = new LinkedHashMap<>();
    /** Counters of the whole queue, its head in memory, the rest in the store (see PagedQueue). */
    final PagedQueue queue;
    /** Insertion order is send order: resends go out in it. */
    final LinkedHashMap<Integer, InflightEntry> inflight = new LinkedHashMap<>();
    long nextOrder = 1;
    final PacketIdAllocator packetIds = new PacketIdAllocator();
    /**
     * Sends to this session that wait for a commit. While any does, a QoS 1 PUBLISH may not go
     * out early: it would overtake them. Decremented on the committer's thread, hence atomic.
     */
    final java.util.concurrent.atomic.AtomicInteger waitingSends = new java.util.concurrent.atomic.AtomicInteger();
    final Outbox outbox = new Outbox();
    final Set<Integer> qos2Received = new HashSet<>();
    boolean discarded;

    EngineSession(String clientId) {
        this.clientId = clientId;
        this.key = Keys.session(clientId);
        this.queue = new PagedQueue(key);
    }

    boolean isOnline() {
        return listener != null;
    }

    boolean canSendNow() {
        return listener != null && deliveryStarted;
    }

    boolean hasWindowSpace() {
        return inflight.size() < window;
    }

    boolean isExpired(long nowMillis) {
        return listener == null && expirySeconds != ConnectRequest.NEVER_EXPIRES
                && nowMillis >= disconnectedAtMillis + expirySeconds * 1000;
    }

    SessionRecord record() {
        return new SessionRecord(expirySeconds, isOnline() ? 0 : disconnectedAtMillis, queue.counters());
    }
}
