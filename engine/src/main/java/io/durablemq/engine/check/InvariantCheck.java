package io.durablemq.engine.check;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.InflightState;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.delivery.RefCounts;
import io.durablemq.engine.queue.QueueCounters;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.will.StoredWill;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.LongPredicate;

/**
 * Checks the store's invariants during a {@link StoreScan}: every subscription, queue,
 * in-flight, QoS 2 and will record belongs to a stored session; every queue and in-flight entry's
 * body is stored; every stored body is referenced by at least one entry; in-flight entries of
 * a session have distinct send orders and valid packet ids (the key makes packet ids unique
 * per session); every record decodes. The engine writes each change as one atomic batch, so
 * none of these can break by a crash: a violation means damage or a bug, never "normal".
 * Call {@link #finish(LongPredicate)} after the scan.
 */
public final class InvariantCheck implements StoreRecordVisitor {
    private final Set<String> sessions = new HashSet<>();
    /** References to bodies by entries of existing sessions. */
    private final RefCounts references;
    /** Stored bodies that are referenced: bodies are unique keys, so each counts once. */
    private long referencedAndStored;
    private final Map<String, Set<Long>> inflightOrders = new HashMap<>();
    /** Queue counters of version-2 session records, and what the entries add up to (per session, not per entry). */
    private final Map<String, QueueCounters> storedCounters = new HashMap<>();
    private final Map<String, long[]> countedQueues = new HashMap<>();
    private final Violations violations = new Violations();
    /** Bodies with a stored count record (above 1 by design), checked against the entries in {@link #refCount}. */
    private final Set<Long> countRecords = new HashSet<>();
    private boolean finished;
    /**
     * Recovery's check: it reads neither {@code queues} nor {@code messages} nor {@code refcounts}, so
     * what needs them (orphans, counts, queue counters) is left to the background check; a
     * session record without counters (version 1) is a violation, since only a scan could count them.
     */
    private final boolean withoutQueues;
    /**
     * Only references to and bodies with ids in [windowFrom, windowTo) are counted: the background
     * check runs one pass per window so that its count map stays bounded (the offline tools use
     * one window covering every id).
     */
    private long windowFrom = Long.MIN_VALUE;
    private long windowTo = Long.MAX_VALUE;

    public InvariantCheck() {
        this(new RefCounts());
    }

    /** The part of the check recovery can make without reading queue entries or bodies (see {@link #withoutQueues}). */
    public static InvariantCheck withoutQueues() {
        return new InvariantCheck(new RefCounts(), true);
    }

    /**
     * Counts the references into {@code references}: recovery passes the engine's own reference
     * counts, so a million queued messages are not counted twice in memory.
     */
    public InvariantCheck(RefCounts references) {
        this(references, false);
    }

    private InvariantCheck(RefCounts references, boolean withoutQueues) {
        this.references = references;
        this.withoutQueues = withoutQueues;
    }

    /** The check of bodies, references and counts with ids in [from, to) only (see {@link #windowFrom}). */
    public static InvariantCheck forIdWindow(long from, long to) {
        InvariantCheck c = new InvariantCheck(new RefCounts(), false);
        c.windowFrom = from;
        c.windowTo = to;
        return c;
    }

    private boolean inWindow(long id) {
        return id >= windowFrom && id < windowTo;
    }

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        sessions.add(clientId);
        if (withoutQueues && r.queue() == null) {
            violations.add(new Violation(Violation.Kind.QUEUE_COUNTERS, StoreColumn.SESSIONS, clientId,
                    "a version-1 session record (no queue counters) in a format-2 store: its counters cannot be"
                            + " trusted without a scan of its queue"));
        }
        if (r.queue() != null) {
            storedCounters.put(clientId, r.queue());
        }
    }

    @Override
    public void subscription(String clientId, String filter, SubscriptionOptions o, byte[] key, byte[] value) {
        requireSession(StoreColumn.SUBSCRIPTIONS, clientId, "subscription '" + filter + "'");
    }

    @Override
    public void queueEntry(String clientId, QueueEntry e, byte[] key, byte[] value) {
        if (!requireSession(StoreColumn.QUEUES, clientId, "queue seq " + e.seq())) {
            return;
        }
        if (e.messageId() <= 0) {
            violations.add(new Violation(Violation.Kind.UNDECODABLE, StoreColumn.QUEUES, clientId,
                    "queue seq " + e.seq() + " references message id " + e.messageId()));
            return;
        }
        if (inWindow(e.messageId())) {
            references.increment(e.messageId());
        }
        long[] c = countedQueues.computeIfAbsent(clientId, x -> new long[3]);
        c[0]++;
        c[1] += e.size();
        c[2] = Math.max(c[2], e.seq());
    }

    @Override
    public void inflight(String clientId, InflightEntry e, byte[] key, byte[] value) {
        if (!requireSession(StoreColumn.INFLIGHT, clientId, "packet id " + e.packetId())) {
            return;
        }
        if (e.packetId() == 0) {
            violations.add(new Violation(Violation.Kind.DUPLICATE_INFLIGHT, StoreColumn.INFLIGHT, clientId, "packet id 0"));
        }
        if (!inflightOrders.computeIfAbsent(clientId, c -> new HashSet<>()).add(e.order())) {
            violations.add(new Violation(Violation.Kind.DUPLICATE_INFLIGHT, StoreColumn.INFLIGHT, clientId,
                    "packet id " + e.packetId() + " repeats send order " + e.order()));
        }
        boolean released = e.state() == InflightState.PUBREL_SENT;
        if (released != (e.messageId() == 0) || e.messageId() < 0) {
            violations.add(new Violation(Violation.Kind.UNDECODABLE, StoreColumn.INFLIGHT, clientId,
                    "packet id " + e.packetId() + " in state " + e.state() + " with message id " + e.messageId()));
            return;
        }
        if (!released && inWindow(e.messageId())) {
            references.increment(e.messageId());
        }
    }

    @Override
    public void qos2Received(String clientId, int packetId, byte[] key, byte[] value) {
        requireSession(StoreColumn.QOS2_RECEIVED, clientId, "packet id " + packetId);
    }

    @Override
    public void will(String clientId, StoredWill w, byte[] key, byte[] value) {
        requireSession(StoreColumn.WILLS, clientId, "will to '" + w.topic() + "'");
    }

    @Override
    public void body(long messageId, byte[] key, byte[] value) {
        if (messageId > 0 && !inWindow(messageId)) {
            return;
        }
        if (messageId <= 0 || references.get(messageId) == 0) {
            violations.add(new Violation(Violation.Kind.ORPHAN_BODY, StoreColumn.MESSAGES, null, "message id " + messageId));
        } else {
            referencedAndStored++;
        }
    }

    /**
     * A stored count must equal the entries referencing its body, and is stored only above 1
     * (absent means 1): {@code refcounts} is scanned after the entries, so the references are
     * all counted here.
     */
    @Override
    public void refCount(long messageId, int count, byte[] key, byte[] value) {
        if (!inWindow(messageId)) {
            return;
        }
        countRecords.add(messageId);
        int referenced = references.get(messageId);
        if (count < 2 || count != referenced) {
            violations.add(new Violation(Violation.Kind.REF_COUNT, StoreColumn.REFCOUNTS, null, "message id " + messageId
                    + " has a stored count of " + count + ", " + referenced + " entries reference it"));
        }
    }

    @Override
    public void undecodable(StoreColumn column, byte[] key, String reason) {
        violations.add(new Violation(Violation.Kind.UNDECODABLE, column, KeyText.clientOf(column, key),
                KeyText.describe(column, key) + ": " + reason));
    }

    /**
     * Ends the check and returns what broke. References whose body never came are missing
     * bodies; {@code isStored} (a point lookup of a body) names them, and is called only when
     * some are missing.
     */
    public Violations finish(LongPredicate isStored) {
        if (!finished) {
            finished = true;
            if (!withoutQueues) {
                checkQueueCounters();
            }
            references.forEach(id -> {
                int n = references.get(id);
                if (!withoutQueues && n > 1 && !countRecords.contains(id)) {
                    violations.add(new Violation(Violation.Kind.REF_COUNT, StoreColumn.REFCOUNTS, null, "message id " + id
                            + " is referenced by " + n + " entries but has no stored count (absent means 1)"));
                }
            });
            long missing = references.size() - referencedAndStored;
            if (missing > 0) {
                references.forEach(id -> {
                    if (!isStored.test(id)) {
                        violations.add(new Violation(Violation.Kind.MISSING_BODY, StoreColumn.MESSAGES, null,
                                "message id " + id + " is referenced by " + references.get(id) + " entries but not stored"));
                    }
                });
            }
        }
        return violations;
    }

    /**
     * A session record's counters must equal its entries: the engine writes them in the same
     * batch as every queue change, so a difference is damage or a bug (limits and paged reads
     * depend on them).
     */
    private void checkQueueCounters() {
        storedCounters.forEach((clientId, stored) -> {
            long[] c = countedQueues.getOrDefault(clientId, new long[3]);
            if (c[0] != stored.messages() || c[1] != stored.bytes() || (c[0] > 0 && c[2] >= stored.nextSeq())) {
                violations.add(new Violation(Violation.Kind.QUEUE_COUNTERS, StoreColumn.SESSIONS, clientId,
                        "stored " + stored.messages() + " messages / " + stored.bytes() + " bytes / next seq "
                                + stored.nextSeq() + ", the queue holds " + c[0] + " / " + c[1]
                                + (c[0] > 0 ? " / last seq " + c[2] : "")));
            }
        });
    }

    private boolean requireSession(StoreColumn column, String clientId, String what) {
        if (sessions.contains(clientId)) {
            return true;
        }
        violations.add(new Violation(Violation.Kind.NO_SESSION, column, clientId, what));
        return false;
    }
}
