package io.durablemq.broker.cluster;

import io.durablemq.cluster.ClusterNode;
import io.durablemq.cluster.FollowerProgress;
import io.durablemq.cluster.NodeRole;
import io.durablemq.cluster.RaftStatus;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * A node's {@code /metrics}: the cluster gauges (always), followed while it serves by the
 * serving broker's own metrics (engine, connections, JVM), which live and die with its engine.
 */
final class ClusterMetrics extends PrometheusMeterRegistry {
    private final Supplier<PrometheusMeterRegistry> serving;
    private final ClusterNodeRef node;
    private final MultiGauge followerMatch;
    private final MultiGauge followerLag;
    private final MultiGauge followerContact;

    ClusterMetrics(ClusterNodeRef node, Supplier<PrometheusMeterRegistry> serving) {
        super(PrometheusConfig.DEFAULT);
        this.serving = serving;
        Gauge.builder("durablemq_cluster_serving", node, n -> n.get() != null && n.get().role() == NodeRole.SERVING ? 1 : 0)
                .description("1 while this node leads and serves MQTT clients").register(this);
        Gauge.builder("durablemq_cluster_raft_leader", node, n -> status(n).leader() ? 1 : 0)
                .description("1 while Ratis says this node is the leader").register(this);
        Gauge.builder("durablemq_cluster_term", node, n -> status(n).term()).register(this);
        Gauge.builder("durablemq_cluster_commit_index", node, n -> status(n).commitIndex()).register(this);
        Gauge.builder("durablemq_cluster_applied_index", node, n -> status(n).appliedIndex()).register(this);
        Gauge.builder("durablemq_cluster_leader_known", node, n -> status(n).leaderId() != null ? 1 : 0)
                .description("1 while this node knows a leader").register(this);
        FunctionCounter.builder("durablemq_cluster_serving_starts", node, n -> n.get() == null ? 0 : n.get().leaderChanges())
                .description("how often this node started serving (became a serving leader)").register(this);
        FunctionCounter.builder("durablemq_cluster_serving_start_failures", node, n -> n.get() == null ? 0 : n.get().servingStartFailures())
                .description("how often this node led but its broker failed to start (bad password or ACL file, a port it"
                        + " cannot bind, a store the engine refuses); each time it gave up leadership").register(this);
        FunctionCounter.builder("durablemq_cluster_leadership_handoffs", node, n -> n.get() == null ? 0 : n.get().leadershipHandoffs())
                .description("how often this node, leading but unable to serve, handed its leadership on through Ratis"
                        + " (a transfer to a follower or a step-down)").register(this);
        FunctionCounter.builder("durablemq_cluster_snapshots_taken", node, n -> n.get() == null ? 0 : n.get().snapshots().taken())
                .description("Raft snapshots (store checkpoints) this node took since it started").register(this);
        FunctionCounter.builder("durablemq_cluster_snapshots_installed", node, n -> n.get() == null ? 0 : n.get().snapshots().installed())
                .description("Raft snapshots this node received from a leader and loaded since it started").register(this);
        Gauge.builder("durablemq_cluster_snapshot_index", node, n -> n.get() == null ? -1 : n.get().snapshots().lastIndex())
                .description("Raft index of this node's newest snapshot (-1: none)").register(this);
        FunctionCounter.builder("durablemq_cluster_leader_changes", node, n -> n.get() == null ? 0 : n.get().observedLeaderChanges())
                .description("how often the leader this node knows changed (another node or a new term) since it started")
                .register(this);
        FunctionCounter.builder("durablemq_cluster_snapshots_sent", node, n -> n.get() == null ? 0 : n.get().snapshotsSent())
                .description("snapshots this node sent in full to followers too far behind while it led (Ratis's count"
                        + " of completed file-chunk installs)")
                .register(this);
        registerEntrySizes(node);
        this.node = node;
        this.followerMatch = MultiGauge.builder("durablemq_cluster_follower_match_index")
                .description("on the leader: the last log index each follower is known to hold").register(this);
        this.followerLag = MultiGauge.builder("durablemq_cluster_follower_lag")
                .description("on the leader: committed log entries each follower is not known to hold").register(this);
        this.followerContact = MultiGauge.builder("durablemq_cluster_follower_last_contact_seconds")
                .description("on the leader: seconds since each follower last answered").register(this);
    }

    /**
     * Size of the Raft entries this node submitted while it led (docs/CLUSTER.md "Entry size and CPU per
     * message (s22)"): entries, RocksDB operations and bytes, and a cumulative histogram of operations per
     * entry ({@code le} = at most that many). Messages per entry = messages acknowledged / entries.
     */
    private void registerEntrySizes(ClusterNodeRef node) {
        FunctionCounter.builder("durablemq_cluster_entries_submitted", node, n -> n.get() == null ? 0 : n.get().entrySizes().entries())
                .description("Raft entries (commit batches) this node submitted while it led").register(this);
        FunctionCounter.builder("durablemq_cluster_entry_operations", node, n -> n.get() == null ? 0 : n.get().entrySizes().operations())
                .description("store operations in the Raft entries this node submitted while it led").register(this);
        FunctionCounter.builder("durablemq_cluster_entry_bytes", node, n -> n.get() == null ? 0 : n.get().entrySizes().bytes())
                .description("bytes of the Raft entries this node submitted while it led").register(this);
        for (int i = 0; i < io.durablemq.cluster.EntrySizes.BUCKETS; i++) {
            int bucket = i;
            double le = io.durablemq.cluster.EntrySizes.upperBound(i);
            FunctionCounter.builder("durablemq_cluster_entry_operations_histogram", node,
                            n -> n.get() == null ? 0 : n.get().entrySizes().atMost(bucket))
                    .description("Raft entries this node submitted while it led with at most le store operations")
                    .tag("le", Double.isInfinite(le) ? "+Inf" : Long.toString((long) le)).register(this);
        }
    }

    /**
     * One takeover's stages (docs/CLUSTER.md, "Failover time"): {@code durablemq_cluster_takeover_seconds}
     * with {@code stage} = leader_ready, applied, engine_open, listening, and total (elected to serving).
     */
    void recordTakeover(io.durablemq.cluster.Takeover t) {
        takeoverTimer("leader_ready").record(t.leaderReady());
        takeoverTimer("applied").record(t.applied());
        takeoverTimer("engine_open").record(t.engineOpen());
        takeoverTimer("listening").record(t.listening());
        takeoverTimer("total").record(t.total());
    }

    private io.micrometer.core.instrument.Timer takeoverTimer(String stage) {
        return io.micrometer.core.instrument.Timer.builder("durablemq_cluster_takeover")
                .description("on a node that became the serving leader: time per takeover stage, from its election"
                        + " (leader_ready, applied, engine_open, listening; total = elected to serving)")
                .tag("stage", stage).register(this);
    }

    /** The per-follower series, read fresh at each scrape: only the leader has rows, a follower none. */
    private synchronized void refreshFollowers() {
        ClusterNode n = node.get();
        List<FollowerProgress> followers = n == null ? List.of() : n.followers();
        long commit = n == null ? 0 : n.raftStatus().commitIndex();
        followerMatch.register(followers.stream().map(f -> MultiGauge.Row.of(Tags.of("follower", f.id()), f.matchIndex()))
                .collect(Collectors.toList()), true);
        followerLag.register(followers.stream().map(f -> MultiGauge.Row.of(Tags.of("follower", f.id()), f.lag(commit)))
                .collect(Collectors.toList()), true);
        followerContact.register(followers.stream().map(f -> MultiGauge.Row.of(Tags.of("follower", f.id()),
                f.lastContactMillis() / 1000.0)).collect(Collectors.toList()), true);
    }

    private static RaftStatus status(ClusterNodeRef n) {
        ClusterNode node = n.get();
        return node == null ? new RaftStatus("UNKNOWN", false, false, null, -1, -1, -1, -1) : node.raftStatus();
    }

    @Override
    public String scrape() {
        refreshFollowers();
        PrometheusMeterRegistry broker = serving.get();
        return broker == null ? super.scrape() : super.scrape() + broker.scrape();
    }

    /** The node, set once it started (the metrics endpoint is up before, so /health answers during start). */
    static final class ClusterNodeRef {
        private volatile ClusterNode node;

        ClusterNode get() {
            return node;
        }

        void set(ClusterNode n) {
            node = n;
        }
    }
}
