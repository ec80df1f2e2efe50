package io.durablemq.engine.check;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.InflightState;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.delivery.RefCounts;
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
    private final Violations violations = new Violations();
    private boolean finished;

    public InvariantCheck() {
        this(new RefCounts());
    }

    /**
     * Counts the references into {@code references}: recovery passes the engine's own reference
     * counts, so a million queued messages are not counted twice in memory.
     */
    public InvariantCheck(RefCounts references) {
        this.references = references;
    }

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        sessions.add(clientId);
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
        references.increment(e.messageId());
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
        if (!released) {
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
        if (messageId <= 0 || references.get(messageId) == 0) {
            violations.add(new Violation(Violation.Kind.ORPHAN_BODY, StoreColumn.MESSAGES, null, "message id " + messageId));
        } else {
            referencedAndStored++;
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

    private boolean requireSession(StoreColumn column, String clientId, String what) {
        if (sessions.contains(clientId)) {
            return true;
        }
        violations.add(new Violation(Violation.Kind.NO_SESSION, column, clientId, what));
        return false;
    }
}
