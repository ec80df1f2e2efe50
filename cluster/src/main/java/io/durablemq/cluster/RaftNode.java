package io.durablemq.cluster;

import io.durablemq.engine.store.Durability;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.netty.NettyConfigKeys;
import org.apache.ratis.proto.RaftProtos;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.SnapshotManagementRequest;
import org.apache.ratis.protocol.TransferLeadershipRequest;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.DivisionInfo;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.RaftServerRpcWithProxy;
import org.apache.ratis.server.metrics.RaftServerMetricsImpl;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * This node's Ratis server in the one DurableMQ Raft group: started from {@link ClusterSettings},
 * takes log entries from the local committer ({@link #submit}) and reports its role and indexes.
 * All consensus is Ratis's; this class only configures it.
 */
final class RaftNode implements AutoCloseable, PeerConnectionRefresh.Connections {
    /** One group per cluster; its id is fixed so every node, and every restart, names the same group. */
    static final RaftGroupId GROUP_ID = RaftGroupId.valueOf(
            UUID.nameUUIDFromBytes("durablemq-cluster".getBytes(StandardCharsets.UTF_8)));
    /** A commit batch may be large (many messages): entries up to this size are accepted. */
    static final SizeInBytes MAX_ENTRY = SizeInBytes.valueOf("32MB");
    /** A requested snapshot not taken by then is given up (the next request asks again). */
    private static final long SNAPSHOT_REQUEST_TIMEOUT_MS = 120_000;

    private final RaftServer server;
    private final RaftPeerId self;
    private final ClientId clientId = ClientId.randomId();
    private final AtomicLong callIds = new AtomicLong();

    RaftNode(ClusterSettings settings, BatchStateMachine stateMachine, RaftLogHeapBudget heapBudget) throws IOException {
        this.self = RaftPeerId.valueOf(settings.nodeId());
        List<RaftPeer> peers = Membership.raftPeers(settings.peers());
        RaftProperties props = new RaftProperties();
        RaftConfigKeys.Rpc.setType(props, SupportedRpcType.NETTY);
        NettyConfigKeys.Server.setHost(props, settings.self().raftHost());
        NettyConfigKeys.Server.setPort(props, settings.self().raftPort());
        Files.createDirectories(settings.raftStorage());
        RaftServerConfigKeys.setStorageDir(props, List.of(settings.raftStorage().toFile()));
        // The leader's heartbeat interval is half the lower bound; a follower checks for silence at the end of
        // each randomised sleep, so a dead leader is noticed between min and about 2 x max after its last heartbeat.
        RaftServerConfigKeys.Rpc.setTimeoutMin(props, TimeDuration.valueOf(settings.electionTimeout().toMillis(), TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Rpc.setTimeoutMax(props, TimeDuration.valueOf(settings.electionTimeoutMax().toMillis(), TimeUnit.MILLISECONDS));
        // fsync mode: an entry counts towards the majority only once fsynced in the Raft log of that node.
        RaftServerConfigKeys.Log.setUnsafeFlushEnabled(props, settings.durability() == Durability.OS);
        // No metadata entry per commit: by default the leader appends one more entry (the new commit index) to
        // its log each time its commit index moves, replicated and written like a batch and recorded in every
        // node's store (notifyTermIndexUpdated): over a third of all entries at full load (docs/CLUSTER.md
        // "Entry size and CPU per message (s22)"). It only lets a restarted node apply its log before it hears
        // from a leader; Raft's safety needs no stored commit index, a PUBACK still waits for a majority's log
        // and the leader's apply, and a new leader applies everything up to its first own entry before serving.
        RaftServerConfigKeys.Log.setLogMetadataEnabled(props, false);
        // A purge removes closed segments only: the segment size is how finely the log shrinks. An entry
        // larger than a segment still fits (Ratis then gives it a segment of its own).
        SnapshotPolicy snap = settings.snapshots();
        RaftServerConfigKeys.Log.setSegmentSizeMax(props, SizeInBytes.valueOf(snap.logSegmentBytes()));
        boundLogCache(props, heapBudget);
        // Snapshots (BatchStateMachine.takeSnapshot): every N applied entries, then the log is purged up to
        // the snapshot's index, less the preserved entries (below). A follower that needs purged entries
        // receives the snapshot's files instead.
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(props, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(props, snap.everyEntries());
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(props, snap.retained());
        // Not at stop: ClusterNode detaches the store before Ratis closes, so there would be nothing to checkpoint.
        RaftServerConfigKeys.Snapshot.setTriggerWhenStopEnabled(props, false);
        RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(props, true);
        // Every snapshot purges (Ratis's default waits for 1,024 entries since the last purge): a snapshot asked
        // for by bytes (LogBytesSnapshotTrigger) may come a few hundred large entries after the last one, and it
        // is asked for so that the log shrinks.
        RaftServerConfigKeys.Log.setPurgeGap(props, 1);
        // A purge keeps the last n entries (Ratis: min(snapshot index, last index - n)): a follower down a few
        // seconds (a JVM restart) then catches up by the log tail, not by an install of the whole snapshot
        // (13.9 s at 319 MB). The cost is disk: n entries of 0.5-280 KB each here.
        RaftServerConfigKeys.Log.setPurgePreservationLogNum(props, snap.preservedEntries());
        RaftServerConfigKeys.Log.Appender.setBufferByteLimit(props, MAX_ENTRY);
        // Ratis wants its log write buffer (one per node, direct memory) to hold the largest entry.
        RaftServerConfigKeys.Log.setWriteBufferSize(props, SizeInBytes.valueOf(MAX_ENTRY.getSize() + 1024 * 1024));
        RaftServerConfigKeys.Write.setByteLimit(props, SizeInBytes.valueOf("256MB"));
        boolean formatted = Files.isDirectory(settings.raftStorage().resolve(GROUP_ID.getUuid().toString()));
        this.server = RaftServer.newBuilder()
                .setServerId(self)
                .setGroup(RaftGroup.valueOf(GROUP_ID, peers))
                .setProperties(props)
                .setStateMachine(stateMachine)
                .setOption(formatted ? RaftStorage.StartupOption.RECOVER : RaftStorage.StartupOption.FORMAT)
                .build();
    }

    /** Ratis keeps its newest segments' entries on the heap: bounded by this JVM's heap, not Ratis's 200 MB (RaftLogHeapBudget). */
    static void boundLogCache(RaftProperties props, RaftLogHeapBudget cache) {
        RaftServerConfigKeys.Log.setSegmentCacheNumMax(props, cache.cachedSegments());
        RaftServerConfigKeys.Log.setSegmentCacheSizeMax(props, SizeInBytes.valueOf(cache.cacheBytes()));
    }

    void start() throws IOException {
        server.start();
    }

    /** Appends one batch to the log; the reply comes once it is committed and applied here (or it failed). */
    CompletableFuture<RaftClientReply> submit(byte[] batch) throws IOException {
        RaftClientRequest request = RaftClientRequest.newBuilder()
                .setClientId(clientId)
                .setServerId(self)
                .setGroupId(GROUP_ID)
                .setCallId(callIds.incrementAndGet())
                .setMessage(new BatchMessage(batch))
                .setType(RaftClientRequest.writeRequestType())
                .build();
        return server.submitClientRequestAsync(request);
    }

    /**
     * Asks Ratis for a snapshot of this node now (any role): it is taken on the apply thread between two
     * applies, like an automatic one, and the log is then purged up to it (less the preserved entries).
     * Gap 1: taken whenever anything was applied since the last snapshot (Ratis's default gap is 1,024 entries).
     */
    CompletableFuture<RaftClientReply> requestSnapshot() throws IOException {
        return server.snapshotManagementAsync(SnapshotManagementRequest.newCreate(clientId, self, GROUP_ID,
                callIds.incrementAndGet(), SNAPSHOT_REQUEST_TIMEOUT_MS, 1));
    }

    /**
     * Asks Ratis to hand this node's leadership to {@code to} (used by {@link LeadershipHandoff}): Ratis
     * brings that follower up to this node's last entry and has it start an election at once. The reply is
     * a success once {@code to} leads; a failure after {@code timeoutMillis} or when Ratis refuses (not
     * leader, a membership change in progress).
     */
    CompletableFuture<RaftClientReply> transferLeadership(String to, long timeoutMillis) throws IOException {
        return server.transferLeadershipAsync(new TransferLeadershipRequest(clientId, self, GROUP_ID, callIds.incrementAndGet(),
                RaftPeerId.valueOf(to), timeoutMillis));
    }

    /** Steps down from leading without naming a successor (Ratis: a transfer to nobody); the group elects a leader. */
    CompletableFuture<RaftClientReply> stepDown(long timeoutMillis) throws IOException {
        return server.transferLeadershipAsync(new TransferLeadershipRequest(clientId, self, GROUP_ID, callIds.incrementAndGet(),
                null, timeoutMillis));
    }

    /** Role and indexes as of now. */
    RaftStatus status() {
        try {
            RaftServer.Division d = server.getDivision(GROUP_ID);
            DivisionInfo info = d.getInfo();
            RaftLog log = d.getRaftLog();
            RaftPeerId leader = info.getLeaderId();
            var last = log.getLastEntryTermIndex();
            return new RaftStatus(info.getCurrentRole().name(), info.isLeader(), info.isLeaderReady(),
                    leader == null ? null : leader.toString(), info.getCurrentTerm(), log.getLastCommittedIndex(),
                    info.getLastAppliedIndex(), last == null ? -1 : last.getIndex());
        } catch (IOException e) {
            return RaftStatus.UNKNOWN;
        }
    }

    /** The last entry in this node's Raft log (committed or not), -1 when empty; throws while Ratis has no division. */
    long lastLogIndex() throws IOException {
        var last = server.getDivision(GROUP_ID).getRaftLog().getLastEntryTermIndex();
        return last == null ? -1 : last.getIndex();
    }

    /** The first index still in this node's Raft log (above 0 once the log was purged after a snapshot). */
    long logStartIndex() {
        try {
            return server.getDivision(GROUP_ID).getRaftLog().getStartIndex();
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * The leader's view of its followers (empty on a follower). Ratis gives the match indexes and the
     * follower ids in two calls over the same list of log appenders, in the same order; the ids are read
     * before and after the indexes, and a membership change in between (ids differ) yields an empty list
     * rather than indexes paired with the wrong follower.
     */
    List<FollowerProgress> followers() {
        try {
            DivisionInfo info = server.getDivision(GROUP_ID).getInfo();
            if (!info.isLeader()) {
                return List.of();
            }
            List<RaftProtos.ServerRpcProto> before = info.getRoleInfoProto().getLeaderInfo().getFollowerInfoList();
            long[] match = info.getFollowerMatchIndices();
            List<RaftProtos.ServerRpcProto> after = info.getRoleInfoProto().getLeaderInfo().getFollowerInfoList();
            if (before.size() != match.length || !ids(before).equals(ids(after))) {
                return List.of();
            }
            List<FollowerProgress> out = new ArrayList<>(match.length);
            for (int i = 0; i < match.length; i++) {
                out.add(new FollowerProgress(ids(before).get(i), match[i], after.get(i).getLastRpcElapsedTimeMs()));
            }
            return out;
        } catch (IOException e) {
            return List.of();
        }
    }

    private static List<String> ids(List<RaftProtos.ServerRpcProto> followers) {
        return followers.stream().map(f -> RaftPeerId.valueOf(f.getId().getId()).toString()).toList();
    }

    /**
     * Snapshots this node sent to followers that were too far behind (or new) while it led, as Ratis's
     * log appender counts them once the last chunk of a file-chunk install succeeded (an install in
     * Ratis's notification mode, where the follower's state machine fetches the snapshot itself, is
     * not counted there); 0 before Ratis's metrics exist.
     */
    long snapshotsSent() {
        try {
            return server.getDivision(GROUP_ID).getRaftServerMetrics() instanceof RaftServerMetricsImpl m
                    ? m.getNumInstallSnapshot().getCount() : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * On a follower that knows a leader other than itself: milliseconds since it last heard from that leader
     * (Ratis's follower state, reset by every append and heartbeat); -1 on a leader, a candidate, or without a leader.
     */
    @Override
    public long millisSinceLeaderContact() {
        try {
            DivisionInfo info = server.getDivision(GROUP_ID).getInfo();
            RaftPeerId leader = info.getLeaderId();
            if (!info.isFollower() || leader == null || leader.equals(self)) {
                return -1;
            }
            RaftProtos.RoleInfoProto role = info.getRoleInfoProto();
            if (role.getRole() != RaftProtos.RaftPeerRole.FOLLOWER || !role.hasFollowerInfo()) {
                return -1;
            }
            return role.getFollowerInfo().getLeaderInfo().getLastRpcElapsedTimeMs();
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * Closes this node's Ratis client connections to every other member; Ratis opens a new one at the next
     * request to that member ({@link PeerConnectionRefresh} says why and when).
     */
    @Override
    public void closeClientConnections() {
        if (!(server.getServerRpc() instanceof RaftServerRpcWithProxy<?, ?> rpc)) {
            return; // another RPC type: nothing of Netty's to refresh
        }
        for (String member : members()) {
            RaftPeerId id = RaftPeerId.valueOf(member);
            if (!id.equals(self)) {
                rpc.getProxies().resetProxy(id);
            }
        }
    }

    /** The Ratis server itself, for tests that talk to it as another member would. */
    RaftServer server() {
        return server;
    }

    /** The ids of the current Raft configuration's members, as this node knows it. */
    List<String> members() {
        try {
            return server.getDivision(GROUP_ID).getRaftConf().getCurrentPeers().stream().map(p -> p.getId().toString()).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
