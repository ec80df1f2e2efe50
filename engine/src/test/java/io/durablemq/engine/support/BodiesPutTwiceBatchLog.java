package io.durablemq.engine.support;

import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import org.rocksdb.WriteBatch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A deliberate fault for mutation checks: every message body is put a second time before its
 * SingleDelete. Before a batch that single-deletes bodies it flushes the store (the bodies' first
 * puts go to SST files), then puts each of those bodies again with its stored value, then writes
 * the batch. That is the store of a node that applied a batch a second time (the old, non-exact
 * Raft replay: the replayed put lands in the memtable just before the replayed SingleDelete) or of
 * an engine that reused a message id: an older put in a file, a newer one with the SingleDelete
 * in the memtable. The next flush drops the SingleDelete with the newer put and the older put is
 * visible again. (Both puts and the SingleDelete in one flush or compaction would hide the older
 * put instead: RocksDB calls the result undefined, and it depends on where the puts lie.) A test
 * that watches for keys that come back must fail with this log; see
 * {@code store.SingleDeleteChurnTest} and {@code store.SingleDeleteCrashTest}.
 */
public final class BodiesPutTwiceBatchLog implements BatchLog {
    @Override
    public void write(Store store, WriteBatch batch) throws Exception {
        List<BatchOps.Op> ops = BatchOps.of(store, batch);
        List<byte[]> deleted = new ArrayList<>();
        for (BatchOps.Op op : ops) {
            if (op.kind() == BatchOps.Kind.SINGLE_DELETE && op.column() == StoreColumn.MESSAGES) {
                deleted.add(op.key());
            }
        }
        if (!deleted.isEmpty()) {
            store.flushAll();
            try (WriteBatch again = new WriteBatch()) {
                for (byte[] key : deleted) {
                    byte[] value = store.get(StoreColumn.MESSAGES, key);
                    if (value == null) { // put in this very batch: its put follows, so this one is the older
                        value = putIn(ops, key);
                    }
                    if (value != null) {
                        again.put(store.handle(StoreColumn.MESSAGES), key, value);
                    }
                }
                store.write(again);
            }
        }
        store.write(batch);
    }

    private static byte[] putIn(List<BatchOps.Op> ops, byte[] key) {
        for (BatchOps.Op op : ops) {
            if (op.kind() == BatchOps.Kind.PUT && op.column() == StoreColumn.MESSAGES && Arrays.equals(op.key(), key)) {
                return op.value();
            }
        }
        return null;
    }
}
