package io.durablemq.cluster;

import io.durablemq.engine.backup.BackupException;
import io.durablemq.engine.backup.BackupResult;
import io.durablemq.engine.backup.StoreBackup;

import java.nio.file.Path;
import java.time.Instant;

/**
 * An online backup on a cluster node, leader or follower, taken from the node's own store: a
 * RocksDB checkpoint written while the state machine's slot is held, so no committed batch is
 * applied meanwhile and the copy is the replicated state at exactly {@code appliedIndex}. On the
 * leader that includes everything it acknowledged before the request (a batch is acknowledged only
 * once applied here); a follower's copy may lack the newest batches it has not applied yet.
 *
 * @param store        the copy (path, size, time); its {@code messageIdsBelow} is -1, the index is the consistent point
 * @param appliedIndex the Raft index of the last batch in the copy
 * @param nodeId       which node wrote it
 * @param role         the node's role then
 */
public record ClusterBackup(BackupResult store, long appliedIndex, String nodeId, NodeRole role) {

    /**
     * Writes the backup of {@code slot}'s store into {@code target}. Refused (UNAVAILABLE) while the
     * node has not yet replayed its Raft log since it started (its store may then hold a mix of the
     * old content and a replayed prefix), and while no store is attached (a leadership hand-over).
     */
    static ClusterBackup write(StoreSlot slot, Path dataPath, Path target, String nodeId, NodeRole role,
                               boolean replayed, RaftStatus status) throws BackupException {
        Instant startedAt = Instant.now();
        long t0 = System.nanoTime();
        StoreBackup.checkTarget(dataPath, target);
        if (!replayed) {
            throw new BackupException(BackupException.Reason.UNAVAILABLE, target, "node " + nodeId
                    + " is still replaying its Raft log since it started (applied index " + status.appliedIndex()
                    + ", commit index " + status.commitIndex() + "); try again shortly", null);
        }
        ClusterBackup written;
        try {
            written = slot.withStore((store, index) -> new ClusterBackup(
                    StoreBackup.write(store, target, startedAt, t0, -1), index, nodeId, role));
        } catch (BackupException e) {
            throw e;
        } catch (Exception e) {
            throw new BackupException(BackupException.Reason.IO_ERROR, target, e.getMessage(), e);
        }
        if (written == null) {
            throw new BackupException(BackupException.Reason.UNAVAILABLE, target, "node " + nodeId
                    + " is handing its store over (it starts or stops serving); try again shortly", null);
        }
        return written;
    }
}
