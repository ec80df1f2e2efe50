package io.durablemq.engine;

import io.durablemq.engine.check.InvariantCheck;
import io.durablemq.engine.check.StoreDamagedException;
import io.durablemq.engine.check.StoreRecordVisitor;
import io.durablemq.engine.check.StoreScan;
import io.durablemq.engine.check.Violations;
import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.delivery.RefCounts;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.will.StoredWill;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Rebuilds the engine's in-memory image from the store with one sequential, read-only scan
 * per column family ({@link StoreScan}: sessions, subscriptions into the index, queues in
 * sequence order, in-flight windows in send order, QoS 2 receive records, reference counts
 * of bodies, retained messages; bodies by key only), checking the store's invariants
 * ({@link InvariantCheck}) on the way. Recovery never guesses and never deletes: a column
 * family that cannot be read to its end, or any broken invariant, refuses the start with
 * {@link StoreDamagedException} before anything is computed from the partial view. Expired
 * sessions are the engine's business afterwards ({@code Engine.recover}).
 */
final class Recovery implements StoreRecordVisitor {

    /** @param recordsChecked every record the scan read and checked */
    record Result(long nextMessageId, int qos2Received, long recordsChecked) {
    }

    private final Store store;
    private final SubscriptionIndex index;
    private final RefCounts refs;
    private Map<String, EngineSession> sessions;
    private Map<String, Message> retained;
    private final Map<EngineSession, List<InflightEntry>> inflight = new HashMap<>();
    /** Stored wills by client id, each with the time its connection ended (see {@link #will}). */
    final Map<String, StoredWill> wills = new HashMap<>();
    private long now;
    private long maxId;
    private int qos2;

    Recovery(Store store, SubscriptionIndex index, RefCounts refs) {
        this.store = store;
        this.index = index;
        this.refs = refs;
    }

    /** Fills {@code sessions} and {@code retained}; throws {@link StoreDamagedException} if the store is damaged. */
    Result run(Map<String, EngineSession> sessions, Map<String, Message> retained) {
        this.sessions = sessions;
        this.retained = retained;
        this.now = System.currentTimeMillis();
        InvariantCheck check = new InvariantCheck(refs); // counts the references for the engine too
        StoreScan.Result scan = new StoreScan(store::iterator, StoreScan.OnError.STOP_COLUMN, false)
                .run(StoreRecordVisitor.all(check, this));
        if (!scan.errors().isEmpty()) {
            // Invariants are not judged on a partial view: the unread part would look like orphans.
            throw new StoreDamagedException(store.dir(), scan.errors(), new Violations());
        }
        Violations violations = check.finish(id -> store.get(StoreColumn.MESSAGES, Keys.message(id)) != null);
        if (!violations.isEmpty()) {
            throw new StoreDamagedException(store.dir(), scan.errors(), violations);
        }
        inflight.forEach((s, list) -> {
            list.sort(Comparator.comparingLong(InflightEntry::order));
            for (InflightEntry e : list) {
                s.inflight.put(e.packetId(), e);
                s.nextOrder = e.order() + 1;
                s.packetIds.continueAfter(e.packetId());
            }
        });
        return new Result(maxId + 1, qos2, scan.totalRecords());
    }

    // The callbacks below only build memory; records of unknown sessions are skipped here
    // (the invariant check reports them, and the start is refused). Reference counts are
    // kept by the invariant check, into the engine's RefCounts.

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        EngineSession s = new EngineSession(clientId);
        s.expirySeconds = r.expirySeconds();
        // Online when the process died: its offline time starts now.
        s.disconnectedAtMillis = r.disconnectedAtMillis() == 0 ? now : r.disconnectedAtMillis();
        sessions.put(clientId, s);
    }

    @Override
    public void subscription(String clientId, String filter, SubscriptionOptions o, byte[] key, byte[] value) {
        EngineSession s = sessions.get(clientId);
        if (s != null) {
            s.subscriptions.put(filter, o);
            index.add(clientId, filter, o);
        }
    }

    @Override
    public void queueEntry(String clientId, QueueEntry e, byte[] key, byte[] value) {
        EngineSession s = sessions.get(clientId);
        if (s != null && e.messageId() > 0) {
            s.queue.add(e);
            s.queuedBytes += e.size();
            s.nextSeq = e.seq() + 1;
        }
    }

    @Override
    public void inflight(String clientId, InflightEntry e, byte[] key, byte[] value) {
        EngineSession s = sessions.get(clientId);
        if (s != null) {
            inflight.computeIfAbsent(s, x -> new ArrayList<>()).add(e);
        }
    }

    @Override
    public void qos2Received(String clientId, int packetId, byte[] key, byte[] value) {
        EngineSession s = sessions.get(clientId);
        if (s != null) {
            s.qos2Received.add(packetId);
            qos2++;
        }
    }

    /**
     * A will whose connection has no recorded end was connected when the process died: its
     * connection ended at the crash, which left no time behind, so it counts from the recovery
     * time, the same instant the session's offline time starts from. A will is thus never sent
     * before its full delay has passed while the broker ran, and never earlier than MQTT allows.
     */
    @Override
    public void will(String clientId, StoredWill w, byte[] key, byte[] value) {
        if (sessions.containsKey(clientId)) {
            wills.put(clientId, w.connected() ? w.endedAt(now) : w);
        }
    }

    @Override
    public void body(long messageId, byte[] key, byte[] value) {
        maxId = Math.max(maxId, messageId);
    }

    @Override
    public void retained(Message m, byte[] key, byte[] value) {
        retained.put(m.topic(), m);
    }
}
