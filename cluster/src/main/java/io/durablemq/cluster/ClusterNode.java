package io.durablemq.cluster;

import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreOpenException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One DurableMQ cluster node: a Ratis server whose state machine applies committed batches to
 * this node's RocksDB store, and the role loop that decides when this node serves clients.
 *
 * <p>Serving starts only when this node leads, its first entry of the term is committed (so
 * every earlier entry is) and everything in its log is applied: then the store is complete, the
 * node closes its follower handle on it and {@link Service#start} opens the engine on it (the
 * single node's recovery) with a {@link BatchLog} that commits through Raft. Serving stops as
 * soon as the node is no longer leader, or a commit failed: the batch log is fenced (nothing
 * more is acknowledged), the engine's store is detached from the state machine, {@link
 * Service#stop} closes the engine and every connection, and the node reopens its store as a
 * follower.
 *
 * <p>A leader whose serving side fails to start (the broker refuses: a password or ACL file with an
 * error, a port it cannot bind, an engine refusing its store) does not keep leading: it gives its
 * leadership to another node through Ratis ({@link LeadershipHandoff}), after the first failure, and
 * tries to serve again only if Raft elects it again.
 */
public final class ClusterNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterNode.class);
    private static final long POLL_MILLIS = 50;
    /**
     * After Ratis's leader-ready notice the role loop polls this often for a while: the notice can come
     * just before the applied index that it waits for is published.
     */
    private static final long FAST_POLL_MILLIS = 5;
    private static final long FAST_POLL_WINDOW_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
    private static final long RETRY_MILLIS = 1_000;
    /**
     * Applied batches are written without fsync: the Raft log (fsynced in fsync mode) is the durable
     * record, and after a crash Ratis replays it into the store (exactly: what the store holds is skipped, see
     * {@link BatchStateMachine}). The serving engine's store is opened the same way by the broker.
     */
    static final Durability STORE_DURABILITY = Durability.OS;

    /** What this node runs while it serves: the broker (or, in tests, an engine). */
    public interface Service {
        /**
         * Opens the engine on {@code store} (the follower's handle on the data folder, complete up to the
         * commit index: handed over rather than closed and reopened, which cost 0.25-1.2 s of a failover),
         * committing through {@code batchLog}; calls {@code engineOpened} once the engine has recovered (the
         * takeover timer's stage); returns once serving. Owns {@code store} from the call: closes it if it fails.
         */
        void start(BatchLog batchLog, Store store, Runnable engineOpened) throws Exception;

        /** Stops serving: closes every connection and the engine. Must not throw. */
        void stop();
    }

    private final ClusterSettings settings;
    private final Path dataPath;
    private final Service service;
    private final StoreSlot slot = new StoreSlot();
    private final BatchStateMachine stateMachine;
    private final RaftNode raft;
    private final LogBytesSnapshotTrigger snapshotTrigger;
    private final SnapshotRequest snapshotRequest;
    private final Thread roleLoop;
    private final AtomicBoolean writeFailed = new AtomicBoolean();
    private final AtomicLong leaderChanges = new AtomicLong();
    private final AtomicLong servingStartFailures = new AtomicLong();
    private final AtomicLong leadershipHandoffs = new AtomicLong();
    private final EntrySizes entrySizes = new EntrySizes();
    private volatile String lastStartFailure;
    private final LeadershipHandoff handoff;
    private final PeerConnectionRefresh connectionRefresh;
    private final LeaderChangeWatch leaderWatch = new LeaderChangeWatch();
    private final TakeoverClock takeoverClock = new TakeoverClock();
    private final Object wakeup = new Object();
    private final java.util.function.Consumer<Takeover> onTakeover;
    private volatile Takeover lastTakeover;
    private volatile long fastPollUntil = System.nanoTime();
    /** Set once this node's store has caught up with its Raft log since it started (its replay is over). */
    private volatile boolean replayed;
    private volatile NodeRole role = NodeRole.FOLLOWING;
    private volatile boolean closing;
    private ReplicatedBatchLog batchLog;
    private long retryAfter;

    private ClusterNode(ClusterSettings settings, Path dataPath, Service service, java.util.function.Consumer<Takeover> onTakeover)
            throws IOException, StoreOpenException {
        this.settings = settings;
        this.onTakeover = onTakeover;
        this.dataPath = dataPath;
        this.service = service;
        // A node with a snapshot rebuilds its store from it (checked file by file first) and Ratis replays
        // the log after it: the data folder's own content is never trusted past the snapshot (it is
        // written without fsync, and the log before the snapshot is purged but for its last preserved
        // entries, which Ratis does not replay: it starts after the snapshot). A damaged snapshot refuses.
        LocalSnapshot snapshot = SnapshotStorage.latestVerified(SnapshotStorage.folderOf(settings.raftStorage()));
        // Ratis counts every log entry it loads as flushed: what a crashed process left unsynced in the
        // page cache is made durable before Ratis reads it (RaftLogSync says why).
        RaftLogSync.makeDurable(settings.raftStorage());
        RaftLogFiles.refuseAGapAfter(snapshot, settings.raftStorage());
        RaftLogFiles.refuseAnOpenSegmentBeforeTheLast(settings.raftStorage());
        if (snapshot != null) {
            StoreRestore.restore(snapshot, dataPath);
        }
        Store own = Store.open(dataPath, STORE_DURABILITY);
        slot.attachOwned(own);
        try {
            FormatCheck.refuseAnOlderFormat(own);
            if (snapshot != null) {
                ExactReplay.refuseASnapshotThatDisagrees(slot.recorded(), snapshot, dataPath);
            }
            RaftLogHeapBudget heapBudget = RaftLogHeapBudget.of(settings.snapshots());
            this.snapshotRequest = new SnapshotRequest(slot, this::askRaftForSnapshot);
            this.snapshotTrigger = new LogBytesSnapshotTrigger(heapBudget.snapshotEveryBytes(), this::requestSnapshot);
            this.stateMachine = new BatchStateMachine(slot, dataPath, takeoverClock, this::wake,
                    settings.durability() == io.durablemq.engine.store.Durability.FSYNC
                            ? RaftLogFolderSync.of(settings.raftStorage()) : RaftLogFolderSync.NONE, snapshotTrigger);
            this.raft = new RaftNode(settings, stateMachine, heapBudget);
            this.handoff = new LeadershipHandoff(raft, settings.nodeId(), settings.electionTimeoutMax());
            this.connectionRefresh = new PeerConnectionRefresh(raft, settings.electionTimeout().toMillis());
        } catch (IOException | RuntimeException e) {
            slot.close();
            throw e;
        }
        this.roleLoop = new Thread(this::runRoleLoop, "durablemq-cluster-role");
        this.roleLoop.setDaemon(true);
    }

    /** Opens this node's store as a follower, starts its Raft server and the role loop. */
    public static ClusterNode start(ClusterSettings settings, Path dataPath, Service service)
            throws IOException, StoreOpenException {
        return start(settings, dataPath, service, t -> { });
    }

    /** As above; {@code onTakeover} hears each takeover's stage times (the broker's takeover timer). */
    public static ClusterNode start(ClusterSettings settings, Path dataPath, Service service,
                                    java.util.function.Consumer<Takeover> onTakeover) throws IOException, StoreOpenException {
        ClusterNode node = new ClusterNode(settings, dataPath, service, onTakeover);
        try {
            node.raft.start();
            node.refuseAStoreAheadOfItsLog();
        } catch (IOException | RuntimeException e) {
            node.close();
            throw e;
        }
        node.roleLoop.start();
        log.info("cluster node {} started (raft {}, peers {})", settings.nodeId(), settings.self().raftAddress(),
                settings.peers().stream().map(p -> p.id() + "=" + p.raftAddress()).toList());
        return node;
    }

    /**
     * Right after Ratis loaded its log: the store must not hold entries beyond it and the snapshot.
     * (A leader's entries arriving meanwhile only lengthen the log with committed entries, and the
     * entry at the store's index is still checked by term when it is applied.)
     */
    private void refuseAStoreAheadOfItsLog() throws IOException {
        AppliedEntry inStore = slot.applied();
        if (inStore != null) {
            SnapshotCounts s = stateMachine.counts();
            ExactReplay.refuseAStoreAhead(inStore, raft.lastLogIndex(), s.lastIndex(), dataPath, settings.raftStorage());
        }
    }

    /** Entries written to this node's store and entries skipped because it held them already, since start. */
    public ReplayCounts replayCounts() {
        return stateMachine.replayCounts();
    }

    /** Batches applied from the leader's own submitted bytes, without a copy out of the log entry, since start. */
    long appliedFromOwnBytes() {
        return stateMachine.appliedFromOwnBytes();
    }

    public NodeRole role() {
        return role;
    }

    public RaftStatus raftStatus() {
        return raft.status();
    }

    /** The leader's MQTT address as configured ({@code cluster_mqtt_addresses}), or null if unknown. */
    public String leaderMqttAddress() {
        String leaderId = raft.status().leaderId();
        Peer p = leaderId == null ? null : settings.peer(leaderId);
        return p == null ? null : p.mqttAddress();
    }

    /** The members of the group as this node knows them (after a membership change, not cluster_peers). */
    public java.util.List<String> members() {
        return raft.members();
    }

    /** Snapshots taken and installed on this node, and the newest one's index. */
    public SnapshotCounts snapshots() {
        return stateMachine.counts();
    }

    /** The first index in this node's Raft log (above 0 once purged after a snapshot). */
    public long raftLogStartIndex() {
        return raft.logStartIndex();
    }

    /** The fsyncs of this node's Raft log folder after Ratis changed its segment files (for tests). */
    RaftLogFolderSync logFolderSync() {
        return stateMachine.logFolderSync();
    }

    /** How many times this node started serving. */
    public long leaderChanges() {
        return leaderChanges.get();
    }

    /** How many times this node led but its serving side failed to start (each time it then gave up leadership). */
    public long servingStartFailures() {
        return servingStartFailures.get();
    }

    /** How many times this node asked Ratis to move its leadership away (a transfer or a step-down that Ratis confirmed). */
    public long leadershipHandoffs() {
        return leadershipHandoffs.get();
    }

    /** Why this node's serving side last failed to start, or null if it never failed. */
    public String lastStartFailure() {
        return lastStartFailure;
    }

    /** How many times the leader this node knows changed (another node, or a new term) since it started. */
    public long observedLeaderChanges() {
        return leaderWatch.changes();
    }

    /** On the leader, each follower's match index and last contact; empty on a follower. */
    public java.util.List<FollowerProgress> followers() {
        return raft.followers();
    }

    /** Sizes of the Raft entries this node submitted while it led (operations and bytes per entry). */
    public EntrySizes entrySizes() {
        return entrySizes;
    }

    /** Snapshots this node installed on followers while it led (Ratis's count). */
    public long snapshotsSent() {
        return raft.snapshotsSent();
    }

    public ClusterSettings settings() {
        return settings;
    }

    /**
     * An online backup of this node's own store (leader or follower) at its applied index; see {@link ClusterBackup}.
     * Holds the state machine's applies for the checkpoint's duration (a flush and hard links).
     */
    public ClusterBackup backup(Path target) throws io.durablemq.engine.backup.BackupException {
        RaftStatus status = raft.status();
        return ClusterBackup.write(slot, dataPath, target, settings.nodeId(), role, noteReplayed(status), status);
    }

    /**
     * Whether the node has replayed its Raft log since it started, judged from {@code s} now (not only
     * at the role loop's last step, which may be up to one tick old: a backup asked right after the
     * node caught up was refused as "still replaying" with applied = commit index).
     */
    private boolean noteReplayed(RaftStatus s) {
        if (!replayed && s.caughtUp() && s.leaderId() != null) {
            replayed = true;
        }
        return replayed;
    }

    /** How many times this node, as a calm follower, replaced its Raft client connections to the other members. */
    long peerConnectionRefreshes() {
        return connectionRefresh.refreshes();
    }

    /** This node's Raft server, for tests. */
    RaftNode raftNode() {
        return raft;
    }

    /** The stage times of the last time this node started serving, or null if it never did. */
    public Takeover lastTakeover() {
        return lastTakeover;
    }

    /**
     * The log applied since the last snapshot reached the budget's bytes (LogBytesSnapshotTrigger): asks
     * Ratis for a snapshot, the store's memtables flushed first (SnapshotRequest). On the apply thread;
     * does not wait for it.
     */
    private void requestSnapshot() {
        snapshotRequest.request(snapshotTrigger.sinceSnapshot());
    }

    private java.util.concurrent.CompletableFuture<org.apache.ratis.protocol.RaftClientReply> askRaftForSnapshot() throws IOException {
        return raft.requestSnapshot();
    }

    /** Snapshot requests made because of the log's bytes (LogBytesSnapshotTrigger), for tests. */
    long snapshotRequestsByBytes() {
        return snapshotTrigger.requests();
    }

    private void wake() {
        fastPollUntil = System.nanoTime() + FAST_POLL_WINDOW_NANOS;
        synchronized (wakeup) {
            wakeup.notifyAll();
        }
    }

    private void runRoleLoop() {
        while (!closing) {
            try {
                step();
                boolean fast = role == NodeRole.FOLLOWING && System.nanoTime() - fastPollUntil < 0;
                synchronized (wakeup) { // Ratis's leader-ready notice wakes it early
                    wakeup.wait(fast ? FAST_POLL_MILLIS : POLL_MILLIS);
                }
            } catch (InterruptedException e) {
                return;
            } catch (Throwable e) {
                log.error("cluster role loop error; retrying", e);
                try {
                    Thread.sleep(RETRY_MILLIS);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private synchronized void step() throws InterruptedException {
        if (closing) {
            return;
        }
        RaftStatus s = raft.status();
        leaderWatch.observe(s);
        noteReplayed(s);
        if (role == NodeRole.FOLLOWING && s.leaderReady() && s.caughtUp() && System.currentTimeMillis() >= retryAfter) {
            promote(s);
        } else if (role == NodeRole.SERVING && (!s.leader() || writeFailed.get())) {
            demote(writeFailed.get() ? "a commit failed (outcome unknown)" : "leadership lost (leader now " + s.leaderId() + ")");
        } else if (role == NodeRole.FOLLOWING) {
            // a member restarted since this node last sent it a request leaves a dead connection behind: replaced
            // here, before this node's next candidacy needs that member's vote (PeerConnectionRefresh)
            connectionRefresh.onStep(System.nanoTime());
        }
    }

    private void promote(RaftStatus s) throws InterruptedException {
        role = NodeRole.PROMOTING;
        takeoverClock.promoting();
        log.info("node {} leads term {} and has applied index {}: opening the engine", settings.nodeId(), s.term(), s.appliedIndex());
        writeFailed.set(false);
        batchLog = new ReplicatedBatchLog(raft, slot, () -> writeFailed.set(true), entrySizes);
        // The follower's open handle goes to the engine: no close and RocksDB reopen (WAL replay) of the same folder.
        Store store;
        try {
            store = slot.handOver();
        } catch (IllegalStateException e) { // no follower store (a failed snapshot load): nothing to serve from
            log.error("node {} leads term {} but cannot start serving: {}", settings.nodeId(), s.term(), e.getMessage());
            batchLog.fence();
            giveUpLeadership(e);
            retryAfter = System.currentTimeMillis() + RETRY_MILLIS;
            role = NodeRole.FOLLOWING;
            return;
        }
        try {
            service.start(batchLog, store, takeoverClock::engineOpen);
            leaderChanges.incrementAndGet();
            role = NodeRole.SERVING;
            Takeover t = takeoverClock.serving(s.term());
            lastTakeover = t;
            log.info("node {} serves clients (term {}); takeover {}", settings.nodeId(), s.term(), t);
            try {
                onTakeover.accept(t);
            } catch (RuntimeException e) {
                log.warn("takeover listener failed: {}", e.toString());
            }
        } catch (Exception e) {
            store.close(); // the service owns it and should have closed it; closing twice is harmless
            log.error("node {} leads term {} but could not start serving: {}", settings.nodeId(), s.term(), e.toString(), e);
            batchLog.fence();
            slot.detach();
            service.stop();
            // Nothing serves here now (the service is stopped, the batch log fenced for good): hand the leadership
            // on first, so another node serves while this one reopens its store (an apply meanwhile waits for it).
            giveUpLeadership(e);
            reopenFollowerStore();
            retryAfter = System.currentTimeMillis() + RETRY_MILLIS;
            role = NodeRole.FOLLOWING;
        }
    }

    /**
     * This node leads but cannot serve: counts it and asks Ratis to move the leadership to another node. At the
     * first failure rather than after several: a failed start has read its files and run its recovery, so trying
     * again here mostly fails the same way, while a hand-off costs one election (about what one retry cost), so a
     * passing fault loses little and a lasting one no longer leaves the whole cluster without a serving node.
     */
    private void giveUpLeadership(Exception why) throws InterruptedException {
        servingStartFailures.incrementAndGet();
        lastStartFailure = why.toString();
        LeadershipHandoff.Outcome outcome = handoff.giveUp();
        if (outcome == LeadershipHandoff.Outcome.TRANSFERRED || outcome == LeadershipHandoff.Outcome.STEPPED_DOWN) {
            leadershipHandoffs.incrementAndGet();
        }
        log.warn("node {} cannot serve ({}): leadership {}; it serves only if elected again and its start then succeeds",
                settings.nodeId(), why.getMessage(), outcome);
    }

    private void demote(String why) throws InterruptedException {
        role = NodeRole.DEMOTING;
        log.warn("node {} stops serving: {}; closing every connection", settings.nodeId(), why);
        batchLog.fence();
        slot.detach();
        service.stop();
        reopenFollowerStore();
        role = NodeRole.FOLLOWING;
        log.info("node {} follows", settings.nodeId());
    }

    /** The engine is closed; its folder is ours again. Retries while RocksDB's lock is still held. */
    private void reopenFollowerStore() throws InterruptedException {
        while (!closing) {
            try {
                slot.attachOwned(Store.open(dataPath, STORE_DURABILITY));
                return;
            } catch (StoreOpenException | RuntimeException e) {
                log.error("cannot reopen the store as a follower ({}); retrying in {} ms", e.getMessage(), RETRY_MILLIS);
                Thread.sleep(RETRY_MILLIS);
            }
        }
    }

    @Override
    public void close() {
        closing = true;
        if (roleLoop.isAlive()) {
            roleLoop.interrupt();
            try {
                roleLoop.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this) {
            if (role == NodeRole.SERVING || role == NodeRole.PROMOTING) {
                try {
                    batchLog.fence();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                slot.detach();
                service.stop();
            }
            role = NodeRole.CLOSED;
        }
        // First the slot: an apply waiting for a store fails now (it is replayed at the next start), so
        // Ratis's closing does not wait on it.
        slot.close();
        snapshotRequest.close();
        try {
            raft.close();
        } catch (IOException | RuntimeException e) {
            log.warn("closing the raft server: {}", e.toString());
        }
    }
}
