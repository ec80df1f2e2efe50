package io.durablemq.cluster;

import io.durablemq.engine.store.Store;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
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
 * <p>Replaying entries that are already in the store is harmless: a batch is a list of puts,
 * deletes and range deletes of whole keys, so applying a suffix of the log again, in order, to a
 * store that holds a prefix of it ends in the same state. That is why the applied index need not
 * be stored atomically with the batch: at every start the node restores its store from its latest
 * snapshot ({@link ClusterNode}) and Ratis replays the log after the snapshot's index.
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
    private final TakeoverClock takeover;
    private final Runnable wakeRoleLoop;

    BatchStateMachine(StoreSlot slot, Path dataPath, TakeoverClock takeover, Runnable wakeRoleLoop) {
        this.slot = slot;
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
            slot.loadedAt(s.index());
        }
        getLifeCycle().transition(LifeCycle.State.STARTING);
        getLifeCycle().transition(LifeCycle.State.RUNNING);
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        try {
            if (!slot.apply(entry.getStateMachineLogEntry().getLogData().toByteArray(), entry.getIndex())) {
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
        long t0 = System.nanoTime();
        LocalSnapshot s = snapshots.take(slot, applied);
        if (s == null) {
            log.info("no store attached (hand-over in progress): snapshot at index {} postponed", applied.getIndex());
            return previousIndex;
        }
        taken.incrementAndGet();
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
                    () -> Store.open(dataPath, ClusterNode.STORE_DURABILITY), s.index());
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("cannot load the installed snapshot " + s.folder() + " into " + dataPath + ": " + e.getMessage(), e);
        }
        setLastAppliedTermIndex(s.termIndex());
        installed.incrementAndGet();
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
