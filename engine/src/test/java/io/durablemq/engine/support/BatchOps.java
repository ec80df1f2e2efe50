package io.durablemq.engine.support;

import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The writes of one RocksDB {@link WriteBatch}, in order, read back with RocksDB's own batch iterator. */
public final class BatchOps {
    public enum Kind { PUT, DELETE, SINGLE_DELETE, DELETE_RANGE, OTHER }

    /** One write: its kind, column family (null: one the engine does not have), key (a range delete's start) and a put's value (else null). */
    public record Op(Kind kind, StoreColumn column, byte[] key, byte[] value) {
        public boolean is(Kind k, StoreColumn c, byte[] key) {
            return kind == k && column == c && Arrays.equals(this.key, key);
        }

        @Override
        public String toString() {
            return kind + " " + column + " " + Arrays.toString(key);
        }
    }

    private BatchOps() {
    }

    /** Lists {@code batch}'s writes; the batch is unchanged. */
    public static List<Op> of(Store store, WriteBatch batch) throws RocksDBException {
        Map<Integer, StoreColumn> columns = new HashMap<>();
        for (StoreColumn c : StoreColumn.values()) {
            columns.put(store.handle(c).getID(), c);
        }
        List<Op> ops = new ArrayList<>();
        try (WriteBatch.Handler reader = new WriteBatch.Handler() {
            private void add(Kind k, int cf, byte[] key) {
                ops.add(new Op(k, columns.get(cf), key, null));
            }

            @Override
            public void put(int cf, byte[] key, byte[] value) {
                ops.add(new Op(Kind.PUT, columns.get(cf), key, value));
            }

            @Override
            public void put(byte[] key, byte[] value) {
                put(0, key, value);
            }

            @Override
            public void merge(int cf, byte[] key, byte[] value) {
                add(Kind.OTHER, cf, key);
            }

            @Override
            public void merge(byte[] key, byte[] value) {
                add(Kind.OTHER, 0, key);
            }

            @Override
            public void delete(int cf, byte[] key) {
                add(Kind.DELETE, cf, key);
            }

            @Override
            public void delete(byte[] key) {
                add(Kind.DELETE, 0, key);
            }

            @Override
            public void singleDelete(int cf, byte[] key) {
                add(Kind.SINGLE_DELETE, cf, key);
            }

            @Override
            public void singleDelete(byte[] key) {
                add(Kind.SINGLE_DELETE, 0, key);
            }

            @Override
            public void deleteRange(int cf, byte[] from, byte[] to) {
                add(Kind.DELETE_RANGE, cf, from);
            }

            @Override
            public void deleteRange(byte[] from, byte[] to) {
                add(Kind.DELETE_RANGE, 0, from);
            }

            @Override
            public void logData(byte[] blob) {
            }

            @Override
            public void putBlobIndex(int cf, byte[] key, byte[] value) {
                add(Kind.OTHER, cf, key);
            }

            @Override
            public void markBeginPrepare() {
            }

            @Override
            public void markEndPrepare(byte[] xid) {
            }

            @Override
            public void markNoop(boolean emptyBatch) {
            }

            @Override
            public void markRollback(byte[] xid) {
            }

            @Override
            public void markCommit(byte[] xid) {
            }

            @Override
            public void markCommitWithTimestamp(byte[] xid, byte[] ts) {
            }
        }) {
            batch.iterate(reader);
        }
        return ops;
    }
}
