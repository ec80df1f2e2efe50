package io.durablemq.engine.repair;

import io.durablemq.engine.check.StoreRecordVisitor;
import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.InflightState;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.delivery.RefCounts;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionOptions;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Repair's first pass over what can be read: decides which records the repaired store keeps so
 * that it is consistent, and counts what is dropped and why. Kept: every session and retained
 * message; subscriptions and QoS 2 records of stored sessions; queue and in-flight entries of
 * stored sessions whose body is stored (released in-flight entries need none), the first of
 * in-flight entries sharing a send order; bodies that a kept entry references. The second pass
 * ({@link SalvageWriter}) reads the same records in the same order and asks {@link #keeps}.
 */
final class SalvagePlan implements StoreRecordVisitor {

    private final Set<String> sessions = new HashSet<>();
    /** Bodies that decode, by id (as a set). */
    private final RefCounts stored = new RefCounts();
    /** References by entries of stored sessions, counted in the first pass before bodies are seen. */
    private final RefCounts referenced = new RefCounts();
    private final Map<String, Set<Long>> orders = new HashMap<>();
    private final Map<DropReason, Long> dropped = new EnumMap<>(DropReason.class);
    private boolean planned;

    // ---- first pass

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        sessions.add(clientId);
    }

    @Override
    public void queueEntry(String clientId, QueueEntry e, byte[] key, byte[] value) {
        if (sessions.contains(clientId) && e.messageId() > 0) {
            referenced.increment(e.messageId());
        }
    }

    @Override
    public void inflight(String clientId, InflightEntry e, byte[] key, byte[] value) {
        if (sessions.contains(clientId) && wellFormed(e)
                && orders.computeIfAbsent(clientId, c -> new HashSet<>()).add(e.order()) && e.messageId() > 0) {
            referenced.increment(e.messageId());
        }
    }

    @Override
    public void body(long messageId, byte[] key, byte[] value) {
        if (messageId > 0) {
            stored.increment(messageId);
        }
    }

    @Override
    public void undecodable(StoreColumn column, byte[] key, String reason) {
        if (!planned) {
            dropped.merge(DropReason.UNDECODABLE, 1L, Long::sum);
        }
    }

    /** Ends the first pass: from now on {@link #keeps} answers, and the drop counts grow. */
    void plan() {
        planned = true;
        orders.clear();
    }

    // ---- second pass

    boolean keepsSubscriptionOrQos2(String clientId) {
        return count(sessions.contains(clientId), DropReason.NO_SESSION);
    }

    boolean keepsQueueEntry(String clientId, QueueEntry e) {
        if (!count(sessions.contains(clientId), DropReason.NO_SESSION)) {
            return false;
        }
        return count(e.messageId() > 0 && stored.get(e.messageId()) > 0, DropReason.BODY_MISSING);
    }

    boolean keepsInflight(String clientId, InflightEntry e) {
        if (!count(sessions.contains(clientId), DropReason.NO_SESSION)) {
            return false;
        }
        if (!count(wellFormed(e), DropReason.UNDECODABLE)) {
            return false;
        }
        if (!count(orders.computeIfAbsent(clientId, c -> new HashSet<>()).add(e.order()), DropReason.DUPLICATE_INFLIGHT)) {
            return false;
        }
        return count(e.messageId() == 0 || stored.get(e.messageId()) > 0, DropReason.BODY_MISSING);
    }

    boolean keepsBody(long messageId) {
        return count(referenced.get(messageId) > 0, DropReason.ORPHAN_BODY);
    }

    Map<DropReason, Long> dropped() {
        return dropped;
    }

    private boolean count(boolean keep, DropReason reason) {
        if (!keep) {
            dropped.merge(reason, 1L, Long::sum);
        }
        return keep;
    }

    private static boolean wellFormed(InflightEntry e) {
        return e.packetId() != 0 && e.messageId() >= 0 && (e.state() == InflightState.PUBREL_SENT) == (e.messageId() == 0);
    }
}
