package io.durablemq.engine.check;

import io.durablemq.engine.store.StoreColumn;

/**
 * One broken invariant of the store: something a correct engine never leaves behind, whatever
 * moment it was killed at (every change is one atomic batch).
 *
 * @param clientId the session the record belongs to, or null for bodies and retained messages
 */
public record Violation(Kind kind, StoreColumn column, String clientId, String detail) {

    public enum Kind {
        /** A record's key or value does not decode. */
        UNDECODABLE("records that do not decode"),
        /** A subscription, queue, in-flight, QoS 2 or will record of a session that has no session record. */
        NO_SESSION("records of sessions that do not exist"),
        /** A stored body no queue or in-flight entry references. */
        ORPHAN_BODY("message bodies no entry references"),
        /** A queue or in-flight entry whose body is not stored. */
        MISSING_BODY("entries whose message body is missing"),
        /** Two in-flight entries of one session with the same send order, or a packet id of 0. */
        DUPLICATE_INFLIGHT("in-flight entries with a duplicate send order or invalid packet id"),
        /** A session record whose stored queue counters differ from the queue entries stored. */
        QUEUE_COUNTERS("session records whose queue counters differ from the stored entries"),
        /** A body's stored reference count (absent = 1) that differs from the entries referencing it. */
        REF_COUNT("bodies whose stored reference count differs from the entries referencing them");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    @Override
    public String toString() {
        return kind + " in " + column.cfName() + (clientId == null ? "" : " (client '" + clientId + "')") + ": " + detail;
    }
}
