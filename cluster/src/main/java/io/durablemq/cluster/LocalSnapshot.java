package io.durablemq.cluster;

import org.apache.ratis.server.protocol.TermIndex;

import java.nio.file.Path;

/**
 * One snapshot on this node's disk: a folder under the Raft storage's {@code sm/} holding a
 * RocksDB checkpoint of the store at {@code index} and its {@link SnapshotManifest}.
 */
record LocalSnapshot(Path folder, SnapshotManifest manifest) {
    long index() {
        return manifest.index();
    }

    TermIndex termIndex() {
        return TermIndex.valueOf(manifest.term(), manifest.index());
    }
}
