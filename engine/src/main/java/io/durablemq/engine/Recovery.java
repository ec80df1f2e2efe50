package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.delivery.RefCounts;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionCodec;
import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.rocksdb.RocksIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Rebuilds the engine's in-memory image from the store with one sequential scan per column
 * family: sessions, their subscriptions (into the index), queues in sequence order,
 * in-flight windows in send order, QoS 2 receive records, reference counts of bodies, and
 * retained messages. Bodies are scanned by key only. Records that break an invariant
 * (orphan bodies, entries of unknown sessions, entries whose body is missing) are removed
 * and logged, never silently kept.
 */
final class Recovery {
    private static final Logger log = LoggerFactory.getLogger(Recovery.class);

    record Result(long nextMessageId, int qos2Received, long orphanBodies) {
    }

    private final Store store;
    private final Committer committer;
    private final SubscriptionIndex index;
    private final RefCounts refs;

    Recovery(Store store, Committer committer, SubscriptionIndex index, RefCounts refs) {
        this.store = store;
        this.committer = committer;
        this.index = index;
        this.refs = refs;
    }

    Result run(Map<String, EngineSession> sessions, Map<String, Message> retained) {
        long now = System.currentTimeMillis();
        try (RocksIterator it = store.iterator(StoreColumn.SESSIONS)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                EngineSession s = new EngineSession(Keys.clientIdOf(it.key()));
                SessionRecord r = SessionRecord.decode(it.value());
                s.expirySeconds = r.expirySeconds();
                // Online when the process died: its offline time starts now.
                s.disconnectedAtMillis = r.disconnectedAtMillis() == 0 ? now : r.disconnectedAtMillis();
                sessions.put(s.clientId, s);
            }
        }
        try (RocksIterator it = store.iterator(StoreColumn.SUBSCRIPTIONS)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                byte[] key = it.key();
                EngineSession s = sessions.get(Keys.clientIdOf(key));
                if (s == null) {
                    orphan(StoreColumn.SUBSCRIPTIONS, key);
                    continue;
                }
                String filter = Keys.filterOf(key);
                SubscriptionOptions o = SubscriptionCodec.decode(it.value());
                s.subscriptions.put(filter, o);
                index.add(s.clientId, filter, o);
            }
        }
        try (RocksIterator it = store.iterator(StoreColumn.QUEUES)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                byte[] key = it.key();
                EngineSession s = sessions.get(Keys.clientIdOf(key));
                if (s == null) {
                    orphan(StoreColumn.QUEUES, key);
                    continue;
                }
                QueueEntry e = QueueEntry.decode(Keys.seqOf(key), it.value());
                s.queue.add(e);
                s.queuedBytes += e.size();
                s.nextSeq = e.seq() + 1;
                refs.increment(e.messageId());
            }
        }
        Map<EngineSession, List<InflightEntry>> inflight = new HashMap<>();
        try (RocksIterator it = store.iterator(StoreColumn.INFLIGHT)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                byte[] key = it.key();
                EngineSession s = sessions.get(Keys.clientIdOf(key));
                if (s == null) {
                    orphan(StoreColumn.INFLIGHT, key);
                    continue;
                }
                InflightEntry e = InflightEntry.decode(Keys.packetIdOf(key), it.value());
                inflight.computeIfAbsent(s, x -> new ArrayList<>()).add(e);
                if (e.messageId() != 0) {
                    refs.increment(e.messageId());
                }
            }
        }
        inflight.forEach((s, list) -> {
            list.sort(Comparator.comparingLong(InflightEntry::order));
            for (InflightEntry e : list) {
                s.inflight.put(e.packetId(), e);
                s.nextOrder = e.order() + 1;
                s.packetIds.continueAfter(e.packetId());
            }
        });
        int qos2 = 0;
        try (RocksIterator it = store.iterator(StoreColumn.QOS2_RECEIVED)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                byte[] key = it.key();
                EngineSession s = sessions.get(Keys.clientIdOf(key));
                if (s == null) {
                    orphan(StoreColumn.QOS2_RECEIVED, key);
                    continue;
                }
                s.qos2Received.add(Keys.packetIdOf(key));
                qos2++;
            }
        }
        long maxId = 0;
        long orphans = 0;
        long present = 0;
        try (RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                long id = Keys.messageIdOf(it.key());
                maxId = Math.max(maxId, id);
                if (refs.get(id) == 0) {
                    orphans++;
                    committer.delete(StoreColumn.MESSAGES, it.key());
                } else {
                    present++;
                }
            }
        }
        if (orphans > 0) {
            log.warn("removed {} message bodies no queue or in-flight entry referenced", orphans);
        }
        if (present != refs.size()) {
            dropEntriesWithoutBody(sessions);
        }
        try (RocksIterator it = store.iterator(StoreColumn.RETAINED)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                Message m = MessageCodec.decode(it.value());
                retained.put(m.topic(), m);
            }
        }
        return new Result(maxId + 1, qos2, orphans);
    }

    /** An invariant broke (a referenced body is missing): say so and drop what cannot be delivered. */
    private void dropEntriesWithoutBody(Map<String, EngineSession> sessions) {
        List<Long> missing = new ArrayList<>();
        refs.forEach(id -> {
            if (store.get(StoreColumn.MESSAGES, Keys.message(id)) == null) {
                missing.add(id);
            }
        });
        log.error("{} referenced message bodies are missing from the store; their entries are removed", missing.size());
        java.util.Set<Long> gone = new java.util.HashSet<>(missing);
        for (EngineSession s : sessions.values()) {
            s.queue.removeIf(e -> {
                if (gone.contains(e.messageId())) {
                    s.queuedBytes -= e.size();
                    committer.delete(StoreColumn.QUEUES, Keys.queueEntry(s.key, e.seq()));
                    refs.decrement(e.messageId());
                    return true;
                }
                return false;
            });
            s.inflight.values().removeIf(e -> {
                if (e.messageId() != 0 && gone.contains(e.messageId())) {
                    committer.delete(StoreColumn.INFLIGHT, Keys.packet(s.key, e.packetId()));
                    refs.decrement(e.messageId());
                    return true;
                }
                return false;
            });
        }
    }

    private void orphan(StoreColumn column, byte[] key) {
        log.warn("removing a {} record of a session that no longer exists", column.cfName());
        committer.delete(column, key);
    }
}
