package io.durablemq.engine.check;

import io.durablemq.engine.store.StoreColumn;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksIterator;

/** Where a scan reads from: the broker's open store, or a store opened read-only offline. */
@FunctionalInterface
public interface ColumnSource {
    RocksIterator iterator(StoreColumn column, ReadOptions options);
}
