package io.durablemq.cluster;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps a follower's Ratis client connections to the other members from going stale, so that its next
 * candidacy reaches them at the first attempt.
 *
 * <p>Why: Ratis's Netty RPC (3.3.0) opens a client connection to a peer the first time this node sends it a
 * request (a vote request as a candidate, an append as a leader) and keeps it; it does not reconnect when
 * the peer's process goes away. When that member is killed and restarted, the next request on the old
 * connection fails at once with a {@code ClosedChannelException}, and only then is the connection replaced.
 * In an election that request is this node's pre-vote: with three members and the leader dead, the one live
 * peer's vote is the majority, so the candidacy fails ("PRE_VOTE REJECTED received 0 response(s) and 2
 * exception(s)") and the node waits a whole new election timeout (0.5-1 s) before it tries again with a new
 * connection. In the quiet 100-kill soak of 2026-11-30 this happened in 12 of 83 failovers, among them all
 * four that took over 3 s (docs/CLUSTER.md, "Failover time").
 *
 * <p>What: while this node is a Raft follower that heard its leader moments ago, it closes its client
 * connections to every other member, at most once per {@link #INTERVAL_NANOS}; Ratis opens a new one at
 * the next request. A follower sends nothing on these connections (they carry only its own vote requests),
 * so closing them costs nothing until the next election, which then pays one TCP connect per peer. Never on
 * a leader or a candidate: their connections carry appends and vote requests in flight. "Moments ago" is a
 * quarter of the minimum election timeout, so no election of this node's own can start for at least three
 * quarters of that timeout after the check (the one exception, a leadership transfer to this very node
 * arriving in the same microseconds, costs that transfer; the transferring leader then steps down instead).
 */
final class PeerConnectionRefresh {
    /** How often a calm follower replaces its connections: shorter than any restart of a member takes. */
    static final long INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** The part of the follower's Raft server this needs (RaftNode; a fake in a unit test). */
    interface Connections {
        /** Milliseconds since this follower last heard its leader; -1 unless it is a follower that knows a leader other than itself. */
        long millisSinceLeaderContact();

        /** Closes this node's client connections to the other members (Ratis opens them again when needed). */
        void closeClientConnections();
    }

    private final Connections connections;
    private final long freshContactMillis;
    private final AtomicLong refreshes = new AtomicLong();
    private long lastRefresh;
    private boolean refreshedOnce;

    PeerConnectionRefresh(Connections connections, long minElectionTimeoutMillis) {
        this.connections = connections;
        this.freshContactMillis = Math.max(1, minElectionTimeoutMillis / 4);
    }

    /** Called by the role loop on every step; {@code now} is {@link System#nanoTime()}. Returns true if it refreshed. */
    boolean onStep(long now) {
        if (refreshedOnce && now - lastRefresh < INTERVAL_NANOS) {
            return false;
        }
        long sinceLeader = connections.millisSinceLeaderContact();
        if (sinceLeader < 0 || sinceLeader >= freshContactMillis) {
            return false;
        }
        connections.closeClientConnections();
        lastRefresh = now;
        refreshedOnce = true;
        refreshes.incrementAndGet();
        return true;
    }

    /** How many times the connections were replaced since the node started. */
    long refreshes() {
        return refreshes.get();
    }
}
