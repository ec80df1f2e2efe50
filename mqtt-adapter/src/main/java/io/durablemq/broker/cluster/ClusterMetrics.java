package io.durablemq.broker.cluster;

import io.durablemq.cluster.ClusterNode;
import io.durablemq.cluster.NodeRole;
import io.durablemq.cluster.RaftStatus;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.util.function.Supplier;

/**
 * A node's {@code /metrics}: the cluster gauges (always), followed while it serves by the
 * serving broker's own metrics (engine, connections, JVM), which live and die with its engine.
 */
final class ClusterMetrics extends PrometheusMeterRegistry {
    private final Supplier<PrometheusMeterRegistry> serving;

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
        FunctionCounter.builder("durablemq_cluster_snapshots_taken", node, n -> n.get() == null ? 0 : n.get().snapshots().taken())
                .description("Raft snapshots (store checkpoints) this node took since it started").register(this);
        FunctionCounter.builder("durablemq_cluster_snapshots_installed", node, n -> n.get() == null ? 0 : n.get().snapshots().installed())
                .description("Raft snapshots this node received from a leader and loaded since it started").register(this);
        Gauge.builder("durablemq_cluster_snapshot_index", node, n -> n.get() == null ? -1 : n.get().snapshots().lastIndex())
                .description("Raft index of this node's newest snapshot (-1: none)").register(this);
    }

    private static RaftStatus status(ClusterNodeRef n) {
        ClusterNode node = n.get();
        return node == null ? new RaftStatus("UNKNOWN", false, false, null, -1, -1, -1, -1) : node.raftStatus();
    }

    @Override
    public String scrape() {
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
