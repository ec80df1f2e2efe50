package io.durablemq.engine.store;

import java.nio.file.Path;

/**
 * Checks a store handed to the engine already open (a cluster node's new leader gives the engine
 * the handle its state machine applied to, instead of closing it and opening the folder again:
 * docs/CLUSTER.md, "Failover time"). The engine reopens {@code dataPath} after a failed commit, so
 * the handle must be on that very folder; anything else is refused and the handle closed, since
 * the caller gave up its ownership.
 */
public final class StoreHandover {
    private StoreHandover() {
    }

    public static void check(Path dataPath, Store store) throws StoreOpenException {
        Path expected = dataPath.toAbsolutePath().normalize();
        Path actual = store.dir().toAbsolutePath().normalize();
        if (!expected.equals(actual)) {
            store.close();
            throw new StoreOpenException(StoreOpenException.Reason.IO_ERROR, dataPath,
                    "the store handed to the engine is open on " + actual + ", not on the engine's data_path", null);
        }
    }
}
