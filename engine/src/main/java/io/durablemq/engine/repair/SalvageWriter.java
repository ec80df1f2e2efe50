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

/** Repair's second pass: copies every record the plan keeps into the new store, in batches. */
final class SalvageWriter implements StoreRecordVisitor, AutoCloseable {
    private static final int BATCH = 10_000;

    private final Store target;
    private final SalvagePlan plan;
    private WriteBatch batch = new WriteBatch();

    SalvageWriter(Store target, SalvagePlan plan) {
        this.target = target;
        this.plan = plan;
    }

    @Override
    public void session(String clientId, SessionRecord r, byte[] key, byte[] value) {
        put(StoreColumn.SESSIONS, key, value);
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
