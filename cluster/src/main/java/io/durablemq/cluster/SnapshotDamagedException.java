package io.durablemq.cluster;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A snapshot this node would load is not whole. The node refuses to start (or to finish an
 * install) rather than rebuild its store from it: the Raft log before the snapshot's index is
 * purged (but for its last preserved entries), so nothing could fill what the damage took.
 */
public final class SnapshotDamagedException extends IOException {
    private final Path folder;

    SnapshotDamagedException(Path folder, String what) {
        super("the Raft snapshot in " + folder + " is damaged: " + what + ". This node cannot rebuild its store from it;"
                + " to let it receive a fresh snapshot from the leader, stop it and delete its Raft folder and data folder"
                + " (docs/CLUSTER.md, \"Snapshots\")");
        this.folder = folder;
    }

    public Path folder() {
        return folder;
    }
}
