package io.durablemq.broker.ops;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OpsMetricNamesTest {

    @Test
    void findsMetricNamesAndIgnoresLabelsFunctionsAndGrafanaVariables() {
        assertEquals(Set.of("durablemq_messages_received_total"), OpsMetricNames.inPromQl(
                "sum by (qos) (rate(durablemq_messages_received_total{instance=~\"$instance\", qos=\"1\"}[$__rate_interval]))"));
        assertEquals(Set.of("durablemq_commit_latency_seconds_bucket"), OpsMetricNames.inPromQl(
                "histogram_quantile(0.99, sum by (instance, le, process_group) (rate(durablemq_commit_latency_seconds_bucket[5m]))) > 0.05"));
        assertEquals(Set.of(), OpsMetricNames.inPromQl("up{job=\"durablemq\"} == 0"));
        assertEquals(Set.of(), OpsMetricNames.inPromQl(
                "predict_linear(node_filesystem_avail_bytes{mountpoint=\"/var/lib/durablemq\"}[6h], 86400) < 0"));
    }

    @Test
    void labelNamesAndValuesThatLookLikeMetricsAreNotMetrics() {
        assertEquals(Set.of("durablemq_sessions"), OpsMetricNames.inPromQl(
                "durablemq_sessions{jvm_label=\"process_x\", state=~'durablemq_.*'}"));
        assertEquals(Set.of("jvm_memory_used_bytes", "jvm_memory_max_bytes"), OpsMetricNames.inPromQl(
                "jvm_memory_used_bytes / on (instance, process_id) group_left (jvm_vendor) jvm_memory_max_bytes"));
        assertEquals(Set.of("process_cpu_usage"), OpsMetricNames.inPromQl(
                "max without (process_extra) (process_cpu_usage) # durablemq_in_a_comment"));
    }

    @Test
    void keepsSuffixesAndHonoursNameMatchers() {
        assertEquals(Set.of("durablemq_commit_batch_size_sum", "durablemq_commit_batch_size_count",
                        "durablemq_commit_batch_size_max"),
                OpsMetricNames.inPromQl("rate(durablemq_commit_batch_size_sum[1m]) / rate(durablemq_commit_batch_size_count[1m])"
                        + " or durablemq_commit_batch_size_max offset 5m"));
        assertEquals(Set.of("durablemq_queue_bytes"), OpsMetricNames.inPromQl(
                "{__name__=\"durablemq_queue_bytes\"} + count({__name__=~\"durablemq_.+\"})"));
        // Recording-rule style names with colons are not broker series.
        assertEquals(Set.of(), OpsMetricNames.inPromQl("job:durablemq_messages:rate5m > 1"));
    }

    @Test
    void dashboardWalksNestedPanelsAndTemplating(@TempDir Path dir) throws IOException {
        Path json = dir.resolve("d.json");
        Files.writeString(json, """
                {"panels": [
                   {"type": "row", "panels": [
                      {"targets": [{"expr": "sum(durablemq_queue_messages)", "legendFormat": "jvm_not_a_query"}]}]},
                   {"targets": [{"expr": "rate(jvm_gc_pause_seconds_count[1m])"}, {"expr": "up"}]}],
                 "templating": {"list": [
                   {"type": "datasource", "query": "prometheus"},
                   {"type": "query", "query": {"query": "label_values(process_uptime_seconds, instance)"}},
                   {"type": "query", "query": "label_values(durablemq_connections, job)"}]}}
                """);
        assertEquals(Set.of("durablemq_queue_messages", "jvm_gc_pause_seconds_count", "process_uptime_seconds",
                "durablemq_connections"), OpsMetricNames.inDashboard(json));
    }

    @Test
    void rulesSkipSeriesRecordedByTheSameFile(@TempDir Path dir) throws IOException {
        Path yaml = dir.resolve("r.yml");
        Files.writeString(yaml, """
                groups:
                  - name: g
                    rules:
                      - record: durablemq_delivered_rate5m
                        expr: sum(rate(durablemq_messages_delivered_total[5m]))
                      - alert: A
                        expr: |
                          durablemq_delivered_rate5m < 1
                          and durablemq_connections > 0
                """);
        assertEquals(Set.of("durablemq_messages_delivered_total", "durablemq_connections"),
                OpsMetricNames.inRules(yaml));
    }

    @Test
    void exposedSeriesAreSampleNamesAndMissingNamesCarryAHint() {
        String exposition = """
                # HELP durablemq_commit_latency_seconds Commit latency
                # TYPE durablemq_commit_latency_seconds histogram
                durablemq_commit_latency_seconds_count 3
                durablemq_commit_latency_seconds_sum 0.002
                # TYPE durablemq_sessions gauge
                durablemq_sessions{state="online"} 1
                process_cpu_usage 0.25
                """;
        Set<String> exported = OpsMetricNames.exportedSeries(exposition);
        assertEquals(Set.of("durablemq_commit_latency_seconds_count", "durablemq_commit_latency_seconds_sum",
                "durablemq_sessions", "process_cpu_usage"), exported);

        Map<String, String> missing = OpsMetricNames.missing(new TreeSet<>(Set.of(
                "durablemq_sessions", "durablemq_commit_latency_seconds_bucket", "durablemq_queue_bytes")), exported);
        assertEquals(Set.of("durablemq_commit_latency_seconds_bucket", "durablemq_queue_bytes"), missing.keySet());
        assertTrue(missing.get("durablemq_commit_latency_seconds_bucket").contains("publishPercentileHistogram"),
                missing.toString());
        assertEquals("not exported", missing.get("durablemq_queue_bytes"));
    }

    /** The real ops files query only series of the families the broker documents. */
    @Test
    void opsFilesUseOnlyDocumentedBrokerMetrics() throws IOException {
        Set<String> documentedFamilies = Set.of(
                "durablemq_messages_received_total", "durablemq_messages_delivered_total",
                "durablemq_messages_acknowledged_total", "durablemq_messages_redelivered_total",
                "durablemq_qos2_duplicates_suppressed_total", "durablemq_messages_dropped_total",
                "durablemq_queue_messages", "durablemq_queue_bytes", "durablemq_inflight_messages",
                "durablemq_publishes_refused_total", "durablemq_publishes_refusing", "durablemq_queue_budget_bytes",
                "durablemq_heap_after_gc_ratio",
                "durablemq_sessions", "durablemq_stored_messages", "durablemq_retained_messages",
                "durablemq_commit_batch_size", "durablemq_commit_latency_seconds",
                "durablemq_delivery_latency_seconds", "durablemq_publish_stage_seconds",
                "durablemq_recovery_duration_seconds", "durablemq_background_check_violations",
                "durablemq_store_size_bytes", "durablemq_commit_failures_total",
                "durablemq_internal_errors_total",
                "durablemq_connections", "durablemq_connections_opened_total",
                "durablemq_connects_rejected_total", "durablemq_protocol_errors_total",
                "durablemq_auth_failures_total",
                "durablemq_security_reloads_total", "durablemq_security_rules_loaded_timestamp_seconds",
                "durablemq_security_reload_failed_timestamp_seconds",
                "durablemq_session_queue_messages", "durablemq_session_queue_bytes",
                "durablemq_rocksdb_memtables_bytes", "durablemq_rocksdb_live_sst_bytes",
                "durablemq_rocksdb_pending_compaction_bytes", "durablemq_rocksdb_running_compactions",
                "durablemq_rocksdb_estimated_keys",
                "durablemq_publishers_throttled", "durablemq_publisher_pauses_total",
                "durablemq_publisher_resumes_total",
                "jvm_memory_used_bytes", "jvm_memory_max_bytes", "jvm_gc_pause_seconds",
                "process_cpu_usage", "jvm_threads_live_threads", "process_uptime_seconds",
                // A cluster node's series (ops/README.md "Running a cluster", docs/CLUSTER.md).
                "durablemq_cluster_serving", "durablemq_cluster_raft_leader", "durablemq_cluster_leader_known",
                "durablemq_cluster_term", "durablemq_cluster_commit_index", "durablemq_cluster_applied_index",
                "durablemq_cluster_follower_lag", "durablemq_cluster_follower_match_index",
                "durablemq_cluster_follower_last_contact_seconds", "durablemq_cluster_leader_changes_total",
                "durablemq_cluster_serving_starts_total", "durablemq_cluster_snapshots_sent_total", "durablemq_cluster_snapshots_installed_total", "durablemq_cluster_snapshots_taken_total");
        Set<String> dashboard = OpsMetricNames.inDashboard(OpsMetricNames.opsFile("grafana/durablemq-dashboard.json"));
        Set<String> rules = OpsMetricNames.inRules(OpsMetricNames.opsFile("prometheus/alerts.yml"));

        // Every group the dashboard must show is there.
        assertTrue(dashboard.containsAll(Set.of("durablemq_delivery_latency_seconds_bucket",
                "durablemq_commit_latency_seconds_bucket", "durablemq_messages_dropped_total",
                "durablemq_publish_stage_seconds_bucket",
                "durablemq_auth_failures_total", "jvm_gc_pause_seconds_sum", "process_cpu_usage",
                "durablemq_publishers_throttled", "durablemq_publisher_pauses_total")), dashboard.toString());
        assertTrue(rules.containsAll(Set.of("durablemq_queue_messages", "durablemq_commit_latency_seconds_bucket",
                "durablemq_messages_dropped_total", "durablemq_store_size_bytes", "durablemq_commit_failures_total",
                "durablemq_auth_failures_total")), rules.toString());

        Set<String> all = new TreeSet<>(dashboard);
        all.addAll(rules);
        Set<String> undocumented = new TreeSet<>();
        for (String name : all) {
            if (!documentedFamilies.contains(name) && !documentedFamilies.contains(OpsMetricNames.family(name))) {
                undocumented.add(name);
            }
        }
        assertEquals(Set.of(), undocumented);
    }
}
