package io.durablemq.engine;

import io.durablemq.engine.check.InvariantCheck;
import io.durablemq.engine.check.StoreDamagedException;
import io.durablemq.engine.check.StoreRecordVisitor;
import io.durablemq.engine.check.StoreScan;
import io.durablemq.engine.check.Violations;
import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.check.ReadError;
import io.durablemq.engine.check.Violation;
import io.durablemq.engine.queue.QueuePageReader;
import io.durablemq.engine.queue.SoleReferenceReader;
import io.durablemq.engine.store.StoreFormat;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import java.nio.ByteBuffer;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.queue.QueueCounters;
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
import java.util.Set;

/**
 * Rebuilds the engine's in-memory image from the store without reading every queue entry or
 * body: one sequential, read-only scan each of sessions (with their stored queue counters),
 * subscriptions (into the index), in-flight windows (in send order), QoS 2 receive records,
 * wills and retained messages ({@link StoreScan}), then each queue's first page by a seek
 * ({@link QueuePageReader}) and, per session, one ordered read of the count records of the bodies its
 * first page and in-flight window reference (entries without one are marked as their body's only
 * reference: {@link #soleReferences}), the next message id from the last key of {@code messages} and the
 * number of bodies from its stored record. Start time and heap are O(sessions + in-flight +
 * retained), not O(backlog). What needs every entry (orphan bodies, reference counts, queue
 * counters against the entries) is checked afterwards by {@code check.BackgroundCheck} on a
 * snapshot. Recovery never guesses and never deletes: a column family that cannot be read to its
 * end, a first page shorter than its counters, or any invariant it can check refuses the start
 * with {@link StoreDamagedException}. Expired sessions are the engine's business afterwards
 * ({@code ImageRebuild.recover}).
 */
final class Recovery implements StoreRecordVisitor {
    private static final Logger log = LoggerFactory.getLogger(Recovery.class);
    /** What recovery reads completely; {@code queues} only by first pages, {@code messages} only its last key. */
    static final List<StoreColumn> READ = List.of(StoreColumn.SESSIONS, StoreColumn.SUBSCRIPTIONS,
            StoreColumn.INFLIGHT, StoreColumn.QOS2_RECEIVED, StoreColumn.WILLS, StoreColumn.RETAINED);

    /** @param recordsChecked every record the scan and the first pages read */
    record Result(long nextMessageId, long storedBodies, int qos2Received, long recordsChecked) {
    }

    private final Store store;
    private final SubscriptionIndex index;
    private final QueuePageReader pages;
    private Map<String, EngineSession> sessions;
    private RetainedMessages retained;
    private final Map<EngineSession, List<InflightEntry>> inflight = new HashMap<>();
    /** Stored wills by client id, each with the time its connection ended (see {@link #will}). */
    final Map<String, StoredWill> wills = new HashMap<>();
    /** Stored queue counters (version-2 session records; a version-1 record is refused by the check). */
    private final Map<EngineSession, QueueCounters> storedCounters = new HashMap<>();
    private long now;
    private int qos2;

    Recovery(Store store, SubscriptionIndex index, QueuePageReader pages) {
        this.store = store;
        this.index = index;
        this.pages = pages;
    }

    /** Fills {@code sessions} and {@code retained}; throws {@link StoreDamagedException} if the store is damaged. */
    Result run(Map<String, EngineSession> sessions, RetainedMessages retained) {
        this.sessions = sessions;
        this.retained = retained;
        this.now = System.currentTimeMillis();
        InvariantCheck check = InvariantCheck.withoutQueues();
        StoreScan.Result scan = new StoreScan(store::iterator, StoreScan.OnError.STOP_COLUMN, false, READ)
                .run(StoreRecordVisitor.all(check, this));
        if (!scan.errors().isEmpty()) {
            // Invariants are not judged on a partial view.
            throw new StoreDamagedException(store.dir(), scan.errors(), new Violations());
        }
        Violations violations = check.finish(this::bodyStored); // in-flight entries' bodies only

        if (!violations.isEmpty()) {
            throw new StoreDamagedException(store.dir(), scan.errors(), violations);
        }
        long pageEntries = 0;
        for (EngineSession s : sessions.values()) {
            QueueCounters c = storedCounters.getOrDefault(s, QueueCounters.EMPTY);
            List<QueueEntry> page = firstPage(s, c);
            List<InflightEntry> window = inflight.getOrDefault(s, new ArrayList<>());
            window.sort(Comparator.comparingLong(InflightEntry::order));
            Set<Long> sole = soleReferences(s, page, window);
            for (QueueEntry e : page) {
                s.queue.restoreHead(sole.contains(e.messageId()) ? e.asSoleReference() : e);
            }
            s.queue.restore(c);
            for (InflightEntry e : window) {
                s.inflight.put(e.packetId(), e.messageId() != 0 && sole.contains(e.messageId()) ? e.asSoleReference() : e);
                s.nextOrder = e.order() + 1;
                s.packetIds.continueAfter(e.packetId());
            }
            pageEntries += page.size();
        }
        return new Result(lastMessageId() + 1, storedBodies(), qos2, scan.totalRecords() + pageEntries);
    }

    /**
     * The bodies of a session's recovered entries (its first page and its in-flight window) that
     * no other entry references, so that their releases read no count on the thread that
     * acknowledges (a Netty event loop in the broker), under the engine's lock: one ordered read of
     * {@code refcounts} for the session (one iterator, {@code Store.keysPresent}) ({@link SoleReferenceReader#withoutCountRecord}). Sound
     * at recovery as on a page read: every entry here is in the store, so the batch that wrote it
     * also wrote its body's count record if the count was above 1; a count never grows after
     * routing, so no record now means a count of 1, and this entry is that reference. A read
     * error refuses the start, naming the column family and the file, as any read of recovery.
     */
    private Set<Long> soleReferences(EngineSession s, List<QueueEntry> page, List<InflightEntry> window) {
        List<Long> ids = new ArrayList<>(page.size() + window.size());
        for (QueueEntry e : page) {
            ids.add(e.messageId());
        }
        for (InflightEntry e : window) {
            if (e.messageId() != 0) { // 0: PUBREL sent, its body already released
                ids.add(e.messageId());
            }
        }
        try {
            return SoleReferenceReader.withoutCountRecord(store, ids);
        } catch (RuntimeException e) {
            String message = String.valueOf(e.getMessage());
            throw new StoreDamagedException(store.dir(), List.of(new ReadError(StoreColumn.REFCOUNTS,
                    StoreScan.fileNamedIn(message), message, "client '" + s.clientId + "'", null)), new Violations());
        }
    }

    /** A point read of an in-flight entry's body; a read error refuses the start naming the column family and file. */
    private boolean bodyStored(long id) {
        try {
            return store.get(StoreColumn.MESSAGES, Keys.message(id)) != null;
        } catch (RuntimeException e) {
            String message = String.valueOf(e.getCause() != null ? e.getCause().getMessage() : e.getMessage());
            throw new StoreDamagedException(store.dir(), List.of(new ReadError(StoreColumn.MESSAGES,
                    StoreScan.fileNamedIn(message), message, "message id " + id, null)), new Violations());
        }
    }

    /** The queue's first page (at most its head's capacity) by one seek; fewer entries than the counters say is damage. */
    private List<QueueEntry> firstPage(EngineSession s, QueueCounters c) {
        int want = (int) Math.min(s.queue.capacity(), c.messages());
        List<QueueEntry> page;
        try {
            page = want == 0 ? List.of() : pages.read(s.key, 0, c.nextSeq(), want);
        } catch (RuntimeException e) {
            String message = e.getCause() != null ? e.getCause().getMessage() : e.getMessage();
            throw new StoreDamagedException(store.dir(), List.of(new ReadError(StoreColumn.QUEUES,
                    StoreScan.fileNamedIn(String.valueOf(message)), e.getMessage(), "client '" + s.clientId + "'", null)),
                    new Violations());
        }
        if (page.size() != want) {
            Violations v = new Violations();
            v.add(new Violation(Violation.Kind.QUEUE_COUNTERS, StoreColumn.SESSIONS, s.clientId, "stored "
                    + c.messages() + " messages / next seq " + c.nextSeq() + ", the queue's first page has "
                    + page.size() + " entries"));
            throw new StoreDamagedException(store.dir(), List.of(), v);
        }
        return page;
    }

    /** The highest stored message id, by one seek to the last key; a read error refuses (never a partial view). */
    private long lastMessageId() {
        try (RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
            it.seekToLast();
            long last = it.isValid() ? Keys.messageIdOf(it.key()) : 0;
            it.status();
            return last;
        } catch (RocksDBException e) {
            throw new StoreDamagedException(store.dir(), List.of(new ReadError(StoreColumn.MESSAGES,
                    StoreScan.fileNamedIn(String.valueOf(e.getMessage())), e.getMessage(), "its last key", null)),
                    new Violations());
        }
    }

    /**
     * The stored number of bodies. A store written before the record existed (test fixtures that
     * write records directly) has none: then the keys are counted, exactly, by one key-only scan.
     */
    private long storedBodies() {
        byte[] v = store.get(StoreColumn.META, StoreFormat.STORED_BODIES_KEY);
        if (v != null && v.length == 8) {
            return ByteBuffer.wrap(v).getLong();
        }
        long n = 0;
        try (RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                n++;
            }
            it.status();
        } catch (RocksDBException e) {
            throw new StoreDamagedException(store.dir(), List.of(new ReadError(StoreColumn.MESSAGES,
                    StoreScan.fileNamedIn(String.valueOf(e.getMessage())), e.getMessage(), "counting bodies", null)),
                    new Violations());
        }
        if (n > 0) { // a new store has no record until its first body
            log.warn("the store in {} has no stored body count: counted {} bodies by a scan", store.dir(), n);
        }
        return n;
    }

    // The callbacks below only build memory; records of unknown sessions are skipped here
    // (the invariant check reports them, and the start is refused).

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        EngineSession s = new EngineSession(clientId);
        s.expirySeconds = r.expirySeconds();
        // Online when the process died: its offline time starts now.
        s.disconnectedAtMillis = r.disconnectedAtMillis() == 0 ? now : r.disconnectedAtMillis();
        sessions.put(clientId, s);
        if (r.queue() != null) {
            storedCounters.put(s, r.queue());
        }
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
    public void retained(Message m, byte[] key, byte[] value) {
        retained.recovered(m);
    }
}
