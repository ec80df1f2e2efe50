package io.durablemq.cluster;

import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A cluster node's store must already be of the current format. The engine upgrades an older
 * store when it opens it ({@code queue.QueueCountersUpgrade}, {@code delivery.RefCountRebuild}) by
 * writing to the store directly, outside the Raft log: on a cluster node that upgrade would change
 * only the leader's store, and the followers' stores would silently differ from it. Such a store is
 * refused, with the way out: open it once as a single node (which upgrades it), then start the node.
 */
final class FormatCheck {
    private FormatCheck() {
    }

    static void refuseAnOlderFormat(Store store) throws IOException {
        byte[] v = store.get(StoreColumn.META, StoreFormat.VERSION_KEY);
        int version = v != null && v.length == 4 ? ByteBuffer.wrap(v).getInt() : StoreFormat.CURRENT;
        if (version < StoreFormat.CURRENT) {
            throw new IOException("the store in " + store.dir() + " is format " + version + ", this build writes format "
                    + StoreFormat.CURRENT + ": a cluster node does not upgrade a store (the upgrade's writes would not go"
                    + " through the Raft log). Start the broker once on this folder without cluster settings (it upgrades"
                    + " the store), stop it, then start the cluster node");
        }
    }
}
