package io.durablemq.cluster;

import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.util.TimeDuration;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Changes the members of a running cluster through Ratis's admin API (a Raft configuration
 * change: the leader first catches a new member up, then commits the joint and the new
 * configuration). Used by {@code durablemq cluster add|remove}. A new member is started first,
 * with {@code cluster_peers} naming the new member list; until it is added it cannot win an
 * election (Ratis's pre-vote), so it does not disturb the running group.
 */
public final class Membership {
    private Membership() {
    }

    /** Adds {@code newcomer} to the group whose current members are {@code current}. */
    public static List<Peer> add(List<Peer> current, Peer newcomer) throws IOException {
        if (current.stream().anyMatch(p -> p.id().equals(newcomer.id()))) {
            throw new IllegalArgumentException("peer " + newcomer.id() + " is already a member");
        }
        List<Peer> next = new ArrayList<>(current);
        next.add(newcomer);
        setPeers(current, next);
        return next;
    }

    /** Removes the member {@code id}. */
    public static List<Peer> remove(List<Peer> current, String id) throws IOException {
        List<Peer> next = current.stream().filter(p -> !p.id().equals(id)).toList();
        if (next.size() == current.size()) {
            throw new IllegalArgumentException("peer " + id + " is not a member of " + current.stream().map(Peer::id).toList());
        }
        if (next.isEmpty()) {
            throw new IllegalArgumentException("cannot remove the last member");
        }
        setPeers(current, next);
        return next;
    }

    /** Asks the leader (found through any of {@code current}) to make {@code next} the members. */
    public static void setPeers(List<Peer> current, List<Peer> next) throws IOException {
        RaftProperties props = new RaftProperties();
        RaftConfigKeys.Rpc.setType(props, SupportedRpcType.NETTY);
        // Bounded: an unreachable cluster is an error for the operator, not a command that never returns.
        try (RaftClient client = RaftClient.newBuilder().setProperties(props)
                .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(20,
                        TimeDuration.valueOf(500, TimeUnit.MILLISECONDS)))
                .setRaftGroup(RaftGroup.valueOf(RaftNode.GROUP_ID, raftPeers(current))).build()) {
            RaftClientReply reply = client.admin().setConfiguration(raftPeers(next));
            if (!reply.isSuccess()) {
                throw new IOException("configuration change refused: " + reply.getException(), reply.getException());
            }
        }
    }

    static List<RaftPeer> raftPeers(List<Peer> peers) {
        return peers.stream().map(p -> RaftPeer.newBuilder().setId(p.id()).setAddress(p.raftAddress()).build()).toList();
    }
}
