package io.durablemq.cluster;

import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A cluster node refuses a store of an older format: the engine's upgrade writes to the store
 * outside the Raft log, so it would change the leader's store alone.
 */
@Timeout(60)
class FormatCheckTest {
    @TempDir
    Path tmp;

    @Test
    void aFormatOneStoreRefusesToStartAsAClusterNodeAndIsLeftAsItWas() throws Exception {
        try (ClusterHarness cluster = new ClusterHarness(tmp, 1, ClusterHarness.Options.DEFAULT)) {
            try (Store store = Store.open(cluster.data(0), Durability.OS); WriteBatch b = new WriteBatch()) {
                b.put(store.handle(StoreColumn.META), StoreFormat.VERSION_KEY, ByteBuffer.allocate(4).putInt(1).array());
                store.write(b);
            }
            IOException refused = assertThrows(IOException.class, () -> cluster.start(0));
            assertTrue(refused.getMessage().contains("is format 1") && refused.getMessage().contains(cluster.data(0).toString())
                    && refused.getMessage().contains("without cluster settings"), refused.getMessage());
            try (Store store = Store.open(cluster.data(0), Durability.OS)) {
                assertEquals(1, ByteBuffer.wrap(store.get(StoreColumn.META, StoreFormat.VERSION_KEY)).getInt(), "not upgraded");
            }
        }
    }
}
