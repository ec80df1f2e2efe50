package io.durablemq.engine.repair;

import io.durablemq.engine.check.StoreRecordVisitor;
import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.will.StoredWill;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;

import io.durablemq.engine.queue.QueueCounters;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** Repair's second pass: copies every record the plan keeps into the new store, in batches. */
final class SalvageWriter implements StoreRecordVisitor, AutoCloseable {
    private static final int BATCH = 10_000;

    private final Store target;
    private final SalvagePlan plan;
    private WriteBatch batch = new WriteBatch();
    /** Per session (O(sessions)): its key and record, and what its kept queue entries add up to. */
    private final Map<String, Object[]> sessionRecords = new LinkedHashMap<>();
    private final Map<String, long[]> keptQueues = new HashMap<>();

    SalvageWriter(Store target, SalvagePlan plan) {
        this.target = target;
        this.plan = plan;
    }

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        // Written by finish(), with the counters of the entries actually kept.
        sessionRecords.put(clientId, new Object[]{key, r});
    }

    @Override
    public void subscription(String clientId, String filter, SubscriptionOptions o, byte[] key, byte[] value) {
        if (plan.keepsSubscriptionOrQos2(clientId)) {
            put(StoreColumn.SUBSCRIPTIONS, key, value);
        }
    }

    @Override
    public void queueEntry(String clientId, QueueEntry e, byte[] key, byte[] value) {
        if (plan.keepsQueueEntry(clientId, e)) {
            put(StoreColumn.QUEUES, key, value);
            long[] c = keptQueues.computeIfAbsent(clientId, x -> new long[3]);
            c[0]++;
            c[1] += e.size();
            c[2] = Math.max(c[2], e.seq());
        }
    }

    @Override
    public void inflight(String clientId, InflightEntry e, byte[] key, byte[] value) {
        if (plan.keepsInflight(clientId, e)) {
            put(StoreColumn.INFLIGHT, key, value);
        }
    }

    @Override
    public void qos2Received(String clientId, int packetId, byte[] key, byte[] value) {
        if (plan.keepsSubscriptionOrQos2(clientId)) {
            put(StoreColumn.QOS2_RECEIVED, key, value);
        }
    }

    @Override
    public void will(String clientId, StoredWill w, byte[] key, byte[] value) {
        if (plan.keepsSubscriptionOrQos2(clientId)) { // kept with its session, like subscriptions
            put(StoreColumn.WILLS, key, value);
        }
    }

    @Override
    public void body(long messageId, byte[] key, byte[] value) {
        if (plan.keepsBody(messageId)) {
            put(StoreColumn.MESSAGES, key, value);
        }
    }

    @Override
    public void retained(Message m, byte[] key, byte[] value) {
        put(StoreColumn.RETAINED, key, value);
    }

    private void put(StoreColumn column, byte[] key, byte[] value) {
        try {
            batch.put(target.handle(column), key, value);
            if (batch.count() >= BATCH) {
                flush();
            }
        } catch (RocksDBException e) {
            throw new IllegalStateException("writing the repaired store failed: " + e.getMessage(), e);
        }
    }

    /**
     * Writes every session record with queue counters equal to the entries kept: a repair that
     * drops entries must not leave counters that count them (verify would refuse the result).
     */
    void finish() {
        sessionRecords.forEach((clientId, kr) -> {
            SessionRecord r = (SessionRecord) kr[1];
            long[] c = keptQueues.getOrDefault(clientId, new long[3]);
            long nextSeq = Math.max(r.queue() == null ? 1 : r.queue().nextSeq(), c[2] + 1);
            put(StoreColumn.SESSIONS, (byte[]) kr[0], r.withQueue(new QueueCounters(c[0], c[1], nextSeq)).encode());
        });
    }

    void flush() throws RocksDBException {
        if (batch.count() > 0) {
            target.write(batch);
            batch.close();
            batch = new WriteBatch();
        }
    }

    @Override
    public void close() {
        batch.close();
    }
}
