package io.durablemq.cluster;

import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import org.apache.ratis.server.protocol.TermIndex;

import java.nio.ByteBuffer;

/**
 * The last Raft log entry applied to a store: {@code i64 term | i64 index} under
 * {@link StoreFormat#RAFT_APPLIED_KEY} in {@code meta}, written in the same {@code WriteBatch} as
 * the entry itself ({@link StoreSlot#apply}), so the store and this record never disagree, even
 * after a crash that lost the store's last writes. {@link #NONE}: nothing applied.
 */
record AppliedEntry(long term, long index) {
    static final AppliedEntry NONE = new AppliedEntry(0, -1);

    static AppliedEntry of(TermIndex t) {
        return t == null ? NONE : new AppliedEntry(t.getTerm(), t.getIndex());
    }

    byte[] encode() {
        return ByteBuffer.allocate(16).putLong(term).putLong(index).array();
    }

    /** The record in {@code store}, or null when it has none (a new store, or one written before the record existed). */
    static AppliedEntry read(Store store) {
        byte[] v = store.get(StoreColumn.META, StoreFormat.RAFT_APPLIED_KEY);
        if (v == null) {
            return null;
        }
        if (v.length != 16) {
            throw new IllegalStateException("the applied Raft index in " + store.dir() + " has " + v.length + " bytes, not 16");
        }
        ByteBuffer b = ByteBuffer.wrap(v);
        return new AppliedEntry(b.getLong(), b.getLong());
    }

    @Override
    public String toString() {
        return index < 0 ? "nothing" : "index " + index + " (term " + term + ")";
    }
}
