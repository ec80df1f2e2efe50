package io.durablemq.cluster;

import org.apache.ratis.proto.RaftProtos.RaftGroupIdProto;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteReplyProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteRequestProto;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A follower's Raft client connection to a member that restarted is replaced before the follower's next
 * candidacy needs it ({@link PeerConnectionRefresh}; docs/CLUSTER.md "Failover time": without it, the first
 * pre-vote of such a candidacy failed on the dead connection in 12 of 83 soak failovers and cost one more
 * election timeout). Three real nodes on loopback; the vote request is sent through the follower's own Ratis
 * RPC, exactly as its candidacy sends one. Plus the rule itself on a fake: only a follower that heard its
 * leader moments ago, at most once a second.
 */
@Timeout(120)
class PeerConnectionRefreshTest {
    @RegisterExtension
    final Clusters clusters = new Clusters();
    private final AtomicLong callIds = new AtomicLong(1_000_000);

    @Test
    void aFollowersConnectionToARestartedMemberCarriesItsNextVoteRequest() throws Exception {
        ClusterHarness cluster = clusters.of(3);
        int leader = cluster.startAll();
        long term = cluster.nodes.get(leader).raftStatus().term();
        int follower = (leader + 1) % 3;
        int restarted = (leader + 2) % 3;
        RaftServer from = cluster.nodes.get(follower).raftNode().server();

        // The follower asks the other follower for a pre-vote, as its candidacy would: this opens its connection
        // to it. (A pre-vote of term 0 changes nothing anywhere: it is refused, the terms stay.) The follower is
        // calm, so it already refreshes once a second: this request too can meet a refresh ("AlreadyClosed
        // Closing connection to n1" in a CI run of 2026-12-01) and is sent again only then.
        RequestVoteReplyProto before = preVoteOnARefreshedConnection(cluster.nodes.get(follower), from, follower, restarted);
        assertFalse(before.getServerReply().getSuccess(), "a pre-vote of term 0 is refused");

        // That member restarts (a supervisor restarting a crashed process): the follower's connection to the old
        // process is closed now.
        cluster.stop(restarted);
        cluster.start(restarted);
        cluster.awaitApplied(restarted, cluster.nodes.get(leader).raftStatus().appliedIndex());
        long refreshesSoFar = cluster.nodes.get(follower).peerConnectionRefreshes();
        assertTrue(ClusterHarness.await(() -> cluster.nodes.get(follower).peerConnectionRefreshes() > refreshesSoFar, 30_000),
                "the calm follower replaced its connections within 30 s");

        // Its next vote request reaches the new process at the first attempt. Without the refresh it fails with
        // a ClosedChannelException (Ratis replaces a connection only after a request failed on it).
        RequestVoteReplyProto after = preVoteOnARefreshedConnection(cluster.nodes.get(follower), from, follower, restarted);
        assertEquals("n" + (restarted + 1), RaftPeerId.valueOf(after.getServerReply().getReplyId()).toString());

        // The leader never closes its connections: they carry its appends.
        assertEquals(NodeRole.SERVING, cluster.nodes.get(leader).role());
        assertEquals(term, cluster.nodes.get(leader).raftStatus().term(), "no election happened meanwhile");
        assertEquals(0, cluster.nodes.get(leader).peerConnectionRefreshes(), "the leader closed none of its connections");
    }

    @Test
    void onlyAFollowerThatHeardItsLeaderMomentsAgoRefreshesAndAtMostOnceASecond() {
        FakeConnections fake = new FakeConnections();
        PeerConnectionRefresh refresh = new PeerConnectionRefresh(fake, 500); // fresh = heard within 125 ms
        long t = 0;
        fake.sinceLeader = -1; // a leader, a candidate, or no known leader
        assertFalse(refresh.onStep(t));
        fake.sinceLeader = 125; // the leader has been quiet for a quarter of the minimum timeout: an election may be near
        assertFalse(refresh.onStep(t));
        fake.sinceLeader = 124;
        assertTrue(refresh.onStep(t));
        t += PeerConnectionRefresh.INTERVAL_NANOS - 1;
        assertFalse(refresh.onStep(t), "not again within the interval");
        t += 1;
        assertTrue(refresh.onStep(t));
        fake.sinceLeader = 400;
        t += PeerConnectionRefresh.INTERVAL_NANOS * 5;
        assertFalse(refresh.onStep(t));
        assertEquals(2, fake.closes, "closed at the two refreshes only");
        assertEquals(2, refresh.refreshes());
    }

    /**
     * The pre-vote on the connection the last refresh left, sent again only if a refresh overlapped it
     * (the calm follower keeps refreshing once a second and closes the connection this request is on:
     * "Client is closed", seen once in a CI run). A real candidacy cannot meet that: only a follower
     * that heard its leader moments ago refreshes, and a candidate has not. A failure with no refresh
     * during the request is a dead connection, the thing this test is about, and fails the test.
     */
    private RequestVoteReplyProto preVoteOnARefreshedConnection(ClusterNode node, RaftServer from, int fromNode, int toNode)
            throws IOException, InterruptedException {
        for (int attempt = 1; ; attempt++) {
            long refreshes = node.peerConnectionRefreshes();
            try {
                return preVote(from, fromNode, toNode);
            } catch (IOException e) {
                // The refresh counts itself once all connections are closed, and the request on the connection
                // it closes fails before that (AlreadyClosedException in one local CI run): wait for the count.
                boolean overlapped = ClusterHarness.await(() -> node.peerConnectionRefreshes() != refreshes, 500);
                if (attempt == 3 || !overlapped) {
                    throw e;
                }
            }
        }
    }

    private RequestVoteReplyProto preVote(RaftServer from, int fromNode, int toNode) throws IOException {
        RaftRpcRequestProto rpc = RaftRpcRequestProto.newBuilder()
                .setRequestorId(RaftPeerId.valueOf("n" + (fromNode + 1)).toByteString())
                .setReplyId(RaftPeerId.valueOf("n" + (toNode + 1)).toByteString())
                .setRaftGroupId(RaftGroupIdProto.newBuilder().setId(RaftNode.GROUP_ID.toByteString()))
                .setCallId(callIds.incrementAndGet())
                .setTimeoutMs(TimeUnit.SECONDS.toMillis(5))
                .build();
        return from.getServerRpc().requestVote(RequestVoteRequestProto.newBuilder()
                .setServerRequest(rpc).setCandidateTerm(0).setPreVote(true).build());
    }

    private static final class FakeConnections implements PeerConnectionRefresh.Connections {
        long sinceLeader;
        int closes;

        @Override
        public long millisSinceLeaderContact() {
            return sinceLeader;
        }

        @Override
        public void closeClientConnections() {
            closes++;
        }
    }
}
