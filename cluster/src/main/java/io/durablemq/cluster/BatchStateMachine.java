package io.durablemq.cluster;

import io.durablemq.engine.store.Store;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.LifeCycle;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Raft state machine: a log entry is one engine commit batch (the bytes of a RocksDB
 * {@code WriteBatch}), and applying it is writing that batch to this node's store. Deterministic:
 * every node applies the same bytes in the same order.
 *
 * <p>Replay is exact: every entry's term and index are written in the same {@code WriteBatch} as
 * the entry ({@link AppliedEntry}), entries without a batch (configurations, a new leader's first
 * entry) included ({@link #notifyTermIndexUpdated}). At a start the node restores its store from
 * its latest snapshot ({@link ClusterNode}), or keeps it when it has none, and Ratis replays the log
 * after the snapshot's index: every entry the store already holds is skipped, not written again;
 * an entry that does not follow the store's record refuses ({@link ExactReplay}). So applying is
 * correct for any batch, not only for idempotent ones.
 *
 * <p>Snapshots: Ratis calls {@link #takeSnapshot} on its apply thread, between two applies, so a
 * RocksDB checkpoint of the store then is the state at the last applied index exactly. A follower
 * whose needed entries were purged receives the leader's snapshot files; {@link #reinitialize}
 * swaps its store folder for them.
 */
final class BatchStateMachine extends BaseStateMachine {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(BatchStateMachine.class);
    private final StoreSlot slot;
    private final SnapshotStorage snapshots = new SnapshotStorage();
    private final Path dataPath;
    private final AtomicLong taken = new AtomicLong();
    private final AtomicLong installed = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong skipped = new AtomicLong();
    private final AtomicLong ownBytes = new AtomicLong();
    private final TakeoverClock takeover;
    private final Runnable wakeRoleLoop;
    private final RaftLogFolderSync logFolderSync;
    private final LogBytesSnapshotTrigger snapshotTrigger;

    BatchStateMachine(StoreSlot slot, Path dataPath, TakeoverClock takeover, Runnable wakeRoleLoop, RaftLogFolderSync logFolderSync,
                      LogBytesSnapshotTrigger snapshotTrigger) {
        this.slot = slot;
        this.snapshotTrigger = snapshotTrigger;
        this.logFolderSync = logFolderSync;
        this.dataPath = dataPath;
        this.takeover = takeover;
        this.wakeRoleLoop = wakeRoleLoop;
    }

    /** Ratis names a new leader: when it is this node, a takeover starts (its clock, for the takeover timer). */
    @Override
    public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
        if (groupMemberId.getPeerId().equals(newLeaderId)) {
            takeover.elected();
        }
    }

    /** The new leader's first entry is committed: the role loop may promote now rather than at its next poll. */
    @Override
    public void notifyLeaderReady() {
        takeover.leaderReady();
        wakeRoleLoop.run();
    }

    @Override
    public StateMachineStorage getStateMachineStorage() {
        return snapshots;
    }

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage storage) throws IOException {
        super.initialize(server, groupId, storage);
        snapshots.init(storage);
        LocalSnapshot s = snapshots.latest();
        if (s != null) {
            // ClusterNode restored the store from this snapshot before Ratis started: it is the applied state.
            setLastAppliedTermIndex(s.termIndex());
        }
        slot.noRecordMeans(s == null ? AppliedEntry.NONE : AppliedEntry.of(s.termIndex()));
        getLifeCycle().transition(LifeCycle.State.STARTING);
        getLifeCycle().transition(LifeCycle.State.RUNNING);
    }

    /**
     * Ratis's log worker calls this before each fsync of its open segment and waits for it (the state
     * machine data "sync" policy, on by default): the log folder's own changes (a new, renamed or deleted
     * segment) are made durable before any entry written after them counts as flushed ({@link RaftLogFolderSync}).
     */
    RaftLogFolderSync logFolderSync() {
        return logFolderSync;
    }

    @Override
    public CompletableFuture<Void> flush(long logIndex) {
        try {
            logFolderSync.syncIfChanged();
            return CompletableFuture.completedFuture(null);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        try {
            byte[] batch = batchBytes(trx, entry);
            snapshotTrigger.applied(batch.length);
            if (!applied(slot.apply(batch, entry.getTerm(), entry.getIndex()))) {
                return CompletableFuture.completedFuture(Message.EMPTY); // closing: replayed at the next start
            }
        } catch (Exception e) {
            // Never skip a committed batch: a failed future would only fail the client's reply while Ratis
            // moved on, and this store would silently lack the batch. Thrown here, Ratis stops applying on
            // this node; a restart replays the log after the latest snapshot.
            log.error("cannot apply committed raft entry {}: this node stops applying (a restart replays the log)",
                    entry.getIndex(), e);
            throw new IllegalStateException("raft entry " + entry.getIndex() + " not applied: " + e, e);
        }
        updateLastAppliedTermIndex(entry.getTerm(), entry.getIndex());
        return CompletableFuture.completedFuture(Message.EMPTY);
    }

    /**
     * The entry's batch bytes. On the leader, for an entry it submitted itself, Ratis hands back the
     * transaction of the original request, whose message holds the very bytes the log entry wraps
     * (the same {@code ByteString} object): those are used as they are. Anywhere else (a follower, a
     * replay after a restart) the log entry's bytes are copied out, as before.
     */
    byte[] batchBytes(TransactionContext trx, LogEntryProto entry) {
        ByteString data = entry.getStateMachineLogEntry().getLogData();
        RaftClientRequest request = trx.getClientRequest();
        if (request != null && request.getMessage() instanceof BatchMessage own && own.getContent() == data) {
            ownBytes.incrementAndGet();
            return own.bytes();
        }
        return data.toByteArray();
    }

    /**
     * An entry without a batch (a configuration, a new leader's first entry): only its position is
     * written to the store, so the store's record always names the last entry applied and the next
     * entry follows it exactly ({@link ExactReplay}). Refused like a batch.
     */
    @Override
    public void notifyTermIndexUpdated(long term, long index) {
        try {
            applied(slot.apply(null, term, index));
        } catch (Exception e) {
            log.error("cannot record raft entry {} in the store: this node stops applying (a restart replays the log)", index, e);
            throw new IllegalStateException("raft entry " + index + " not applied: " + e, e);
        }
        super.notifyTermIndexUpdated(term, index);
    }

    /** Counts the outcome; false when the node is closing (nothing applied). */
    private boolean applied(StoreSlot.Outcome outcome) {
        switch (outcome) {
            case APPLIED -> written.incrementAndGet();
            case SKIPPED -> skipped.incrementAndGet();
            case CLOSING -> {
                return false;
            }
        }
        return true;
    }

    /** Batches this node applied from the bytes it submitted itself (as leader), not copied out of the log entry. */
    long appliedFromOwnBytes() {
        return ownBytes.get();
    }

    /** Entries written to the store and entries skipped because the store held them, since this node started. */
    ReplayCounts replayCounts() {
        return new ReplayCounts(written.get(), skipped.get());
    }

    /**
     * A checkpoint of the store at the last applied index. Returns that index (Ratis then purges
     * its log up to it), or the previous snapshot's index when nothing new can be taken: nothing
     * applied since, or no store attached (a leadership hand-over; the next trigger takes it).
     */
    @Override
    public long takeSnapshot() throws IOException {
        TermIndex applied = getLastAppliedTermIndex();
        LocalSnapshot previous = snapshots.latest();
        long previousIndex = previous == null ? RaftLog.INVALID_LOG_INDEX : previous.index();
        if (applied == null || applied.getIndex() <= previousIndex || applied.getIndex() < 0) {
            return previousIndex;
        }
        AppliedEntry inStore = slot.applied();
        if (inStore != null && inStore.index() != applied.getIndex()) {
            // Still skipping a replay: the store is ahead of Ratis's applied index, and a snapshot must hold exactly its name's index.
            log.info("store holds raft {} while the replay is at index {}: snapshot postponed", inStore, applied.getIndex());
            return previousIndex;
        }
        long t0 = System.nanoTime();
        LocalSnapshot s = snapshots.take(slot, applied);
        if (s == null) {
            log.info("no store attached (hand-over in progress): snapshot at index {} postponed", applied.getIndex());
            return previousIndex;
        }
        taken.incrementAndGet();
        snapshotTrigger.snapshotTaken();
        log.info("raft snapshot {} taken: {} files, {} bytes in {} ms", s.folder().getFileName(), s.manifest().files().size(),
                s.manifest().totalBytes(), (System.nanoTime() - t0) / 1_000_000);
        return s.index();
    }

    /** Ratis pauses the state machine while it receives a snapshot's files. */
    @Override
    public void pause() {
        LifeCycle lc = getLifeCycle();
        if (lc.getCurrentState() == LifeCycle.State.RUNNING) {
            lc.transition(LifeCycle.State.PAUSING);
            lc.transition(LifeCycle.State.PAUSED);
        }
    }

    /**
     * The leader's snapshot has arrived in the state-machine folder (Ratis checked each file's MD5
     * against the leader's): check it against its manifest, then swap this node's store for it.
     * Ratis then applies the entries after its index.
     */
    @Override
    public void reinitialize() throws IOException {
        long t0 = System.nanoTime();
        LocalSnapshot s = snapshots.reloadVerified();
        try {
            slot.replaceFollowerStore(() -> StoreRestore.restore(s, dataPath),
                    () -> Store.open(dataPath, ClusterNode.STORE_DURABILITY));
            ExactReplay.refuseASnapshotThatDisagrees(slot.recorded(), s, dataPath);
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("cannot load the installed snapshot " + s.folder() + " into " + dataPath + ": " + e.getMessage(), e);
        }
        slot.noRecordMeans(AppliedEntry.of(s.termIndex()));
        setLastAppliedTermIndex(s.termIndex());
        installed.incrementAndGet();
        snapshotTrigger.snapshotTaken();
        log.info("raft snapshot {} installed from the leader into {} in {} ms", s.folder().getFileName(), dataPath,
                (System.nanoTime() - t0) / 1_000_000);
        getLifeCycle().transition(LifeCycle.State.STARTING);
        getLifeCycle().transition(LifeCycle.State.RUNNING);
    }

    SnapshotCounts counts() {
        LocalSnapshot s = snapshots.latest();
        return new SnapshotCounts(taken.get(), installed.get(), s == null ? -1 : s.index());
    }
}
