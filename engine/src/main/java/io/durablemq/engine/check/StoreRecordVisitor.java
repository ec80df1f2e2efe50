package io.durablemq.engine.check;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.will.StoredWill;

/**
 * Receives the decoded records of a {@link StoreScan}, column family by column family in the
 * scan's order (sessions first, bodies after every entry that references them). Each call
 * also carries the raw key and value, for callers that copy records.
 */
public interface StoreRecordVisitor {
    default void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
    }

    default void subscription(String clientId, String filter, SubscriptionOptions o, byte[] key, byte[] value) {
    }

    default void queueEntry(String clientId, QueueEntry e, byte[] key, byte[] value) {
    }

    default void inflight(String clientId, InflightEntry e, byte[] key, byte[] value) {
    }

    default void qos2Received(String clientId, int packetId, byte[] key, byte[] value) {
    }

    /** A session's will (column family {@code wills}). */
    default void will(String clientId, StoredWill w, byte[] key, byte[] value) {
    }

    /** A stored message body; {@code value} is null when the scan reads bodies by key only. */
    default void body(long messageId, byte[] key, byte[] value) {
    }

    default void retained(Message m, byte[] key, byte[] value) {
    }

    /** A body's stored reference count (column family {@code refcounts}; stored only where above 1). */
    default void refCount(long messageId, int count, byte[] key, byte[] value) {
    }

    /** A record whose key or value does not decode. */
    default void undecodable(StoreColumn column, byte[] key, String reason) {
    }

    /** Every visitor sees every record, in order. */
    static StoreRecordVisitor all(StoreRecordVisitor... visitors) {
        return new StoreRecordVisitor() {
            @Override
            public void session(String c, SessionRecord r, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.session(c, r, k, v);
                }
            }

            @Override
            public void subscription(String c, String f, SubscriptionOptions o, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.subscription(c, f, o, k, v);
                }
            }

            @Override
            public void queueEntry(String c, QueueEntry e, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.queueEntry(c, e, k, v);
                }
            }

            @Override
            public void inflight(String c, InflightEntry e, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.inflight(c, e, k, v);
                }
            }

            @Override
            public void qos2Received(String c, int p, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.qos2Received(c, p, k, v);
                }
            }

            @Override
            public void will(String c, StoredWill w, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.will(c, w, k, v);
                }
            }

            @Override
            public void body(long id, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.body(id, k, v);
                }
            }

            @Override
            public void refCount(long id, int count, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.refCount(id, count, k, v);
                }
            }

            @Override
            public void retained(Message m, byte[] k, byte[] v) {
                for (StoreRecordVisitor x : visitors) {
                    x.retained(m, k, v);
                }
            }

            @Override
            public void undecodable(StoreColumn c, byte[] k, String reason) {
                for (StoreRecordVisitor x : visitors) {
                    x.undecodable(c, k, reason);
                }
            }
        };
    }
}
