package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.ops.OpsMetricNames;
import io.durablemq.cluster.SnapshotPolicy;
import io.durablemq.engine.store.Durability;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three cluster nodes' broker parts in one JVM on loopback (real Ratis, real RocksDB, real
 * sockets): exactly one serves and says ready; the others answer an MQTT 5 CONNECT with 0x9C and
 * the leader's address as Server Reference, an MQTT 3.1.1 CONNECT with 0x03; a QoS 1 publish to
 * the leader is acknowledged.
 */
@Timeout(180)
class ClusterBrokerTest {
    @TempDir
    Path tmp;
    @RegisterExtension
    final ClusterBrokers cluster = new ClusterBrokers();

    @Test
    void onlyTheLeaderServesAndFollowersRedirect() throws Exception {
        int[] mqtt = cluster.mqtt;
        int[] metrics = cluster.metrics;
        int leader = cluster.startAll();
        for (int i = 0; i < 3; i++) {
            assertEquals(i == leader ? 200 : 503, NodeHttp.status(metrics[i], "/ready"), "/ready of n" + (i + 1));
        }
        // Every series the cluster alert rules query is on a node's /metrics (the leader's also has the broker's own).
        // So is every cluster series of the dashboard (the per-follower ones only on the leader, once it heard from them).
        java.util.Set<String> used = new java.util.TreeSet<>(OpsMetricNames.inRules(OpsMetricNames.opsFile("prometheus/cluster-alerts.yml")));
        OpsMetricNames.inDashboard(OpsMetricNames.opsFile("grafana/durablemq-dashboard.json")).stream()
                .filter(OpsMetricNames::clusterOnly).forEach(used::add);
        assertTrue(used.contains("durablemq_cluster_follower_lag") && used.contains("durablemq_cluster_leader_changes_total"), used::toString);
        Map<String, String> missing = Map.of();
        String scrape = "";
        for (long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); System.nanoTime() < deadline; Thread.sleep(200)) {
            scrape = NodeHttp.body(metrics[leader], "/metrics");
            missing = OpsMetricNames.missing(used, OpsMetricNames.exportedSeries(scrape));
            if (missing.isEmpty()) {
                break;
            }
        }
        assertEquals(Map.of(), missing, "series the cluster alerts and dashboard use but the leader does not export");
        for (int i = 0; i < 3; i++) {
            if (i != leader) {
                String follower = "n" + (i + 1);
                assertTrue(scrape.contains("durablemq_cluster_follower_lag{follower=\"" + follower + "\"}"),
                        "the leader reports the lag of " + follower);
                assertTrue(!NodeHttp.body(metrics[i], "/metrics").contains("durablemq_cluster_follower_lag{"),
                        "a follower reports no follower lag");
            }
        }
        assertTrue(NodeHttp.body(metrics[leader], "/cluster").contains("follower n"), "/cluster lists the followers on the leader");
        assertTrue(scrape.contains("durablemq_cluster_serving 1.0"), "the leader says it serves");
        assertTrue(scrape.contains("durablemq_connections"), "the serving broker's own metrics follow");
        for (String series : List.of("durablemq_cluster_snapshots_taken_total", "durablemq_cluster_snapshots_installed_total",
                "durablemq_cluster_snapshot_index")) {
            assertTrue(scrape.contains(series + " "), "snapshot series " + series + " on /metrics");
        }
        assertTrue(NodeHttp.body(metrics[(leader + 1) % 3], "/metrics").contains("durablemq_cluster_serving 0.0"), "a follower does not serve");

        MqttClient client = new MqttClient("tcp://127.0.0.1:" + mqtt[leader], "c1", new MemoryPersistence());
        MqttConnectOptions o = new MqttConnectOptions();
        o.setCleanSession(false);
        client.connect(o);
        client.publish("t", "hello".getBytes(StandardCharsets.UTF_8), 1, false); // returns on PUBACK
        client.disconnect();
        client.close();

        int follower = (leader + 1) % 3;
        Connack v5 = connect(mqtt[follower], true);
        assertEquals(0x9C, v5.reasonCode(), "MQTT 5: Use another server");
        assertEquals("127.0.0.1:" + mqtt[leader], v5.serverReference(), "Server Reference names the leader");
        assertEquals(0x03, connect(mqtt[follower], false).reasonCode(), "MQTT 3.1.1: Server unavailable");
    }

    /** {@code durablemq cluster add|remove} against running nodes: a fourth node joins and leaves. */
    @Test
    void clusterCommandAddsAndRemovesAMember() throws Exception {
        String[] raft = new String[4];
        for (int i = 0; i < 4; i++) {
            raft[i] = "n" + (i + 1) + "=127.0.0.1:" + ClusterBrokers.freePort();
        }
        String three = String.join(",", raft[0], raft[1], raft[2]);
        String four = three + "," + raft[3];
        for (int i = 0; i < 4; i++) {
            Map<String, String> props = new HashMap<>();
            props.put("cluster_node_id", "n" + (i + 1));
            props.put("cluster_peers", i < 3 ? three : four);
            props.put("cluster_storage_path", tmp.resolve("raft" + i).toString());
            BrokerConfig config = BrokerConfig.defaults().toBuilder().port(ClusterBrokers.freePort()).metricsPort(0)
                    .dataPath(tmp.resolve("data" + i)).durability(Durability.OS).properties(props).build();
            cluster.start(config);
        }
        int leader = cluster.awaitServing(120);
        java.io.StringWriter out = new java.io.StringWriter();
        picocli.CommandLine cli = new picocli.CommandLine(new io.durablemq.broker.Main());
        cli.setOut(new java.io.PrintWriter(out));
        assertEquals(0, cli.execute("cluster", "add", raft[3], "--peers", three), out::toString);
        assertTrue(awaitMembers(leader, List.of("n1", "n2", "n3", "n4")), () -> "members " + cluster.node(leader).members());
        assertEquals(2, cli.execute("cluster", "remove", "n9", "--peers", four), "not a member: usage error");
        assertEquals(2, cli.execute("cluster", "add", "n5=nohost", "--peers", four), "no port: usage error");
        assertEquals(0, cli.execute("cluster", "remove", "n4", "--peers", four), out::toString);
        assertTrue(awaitMembers(leader, List.of("n1", "n2", "n3")), () -> "members " + cluster.node(leader).members());
    }

    private boolean awaitMembers(int node, List<String> members) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (cluster.node(node).members().equals(members)) {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }

    @Test
    void badClusterSettingsAreRefusedNamingTheKey() {
        Map<String, String> props = new HashMap<>();
        props.put("cluster_node_id", "n9");
        props.put("cluster_peers", "n1=127.0.0.1:1,n2=127.0.0.1:2");
        BrokerConfig config = BrokerConfig.defaults().toBuilder().dataPath(tmp.resolve("d")).properties(props).build();
        BrokerConfigException e = assertThrows(BrokerConfigException.class, () -> ClusterConfig.settings(config));
        assertTrue(e.getMessage().contains("cluster_node_id 'n9' is not among cluster_peers"), e.getMessage());

        props.put("cluster_node_id", "n1");
        props.put("cluster_peers", "n1=127.0.0.1");
        BrokerConfig noPort = BrokerConfig.defaults().toBuilder().dataPath(tmp.resolve("d")).properties(props).build();
        e = assertThrows(BrokerConfigException.class, () -> ClusterConfig.settings(noPort));
        assertTrue(e.getMessage().contains("cluster_peers"), e.getMessage());

        props.put("cluster_peers", "n1=127.0.0.1:1");
        props.put("cluster_snapshot_every_entries", "often");
        BrokerConfig badSnapshots = BrokerConfig.defaults().toBuilder().dataPath(tmp.resolve("d")).properties(props).build();
        e = assertThrows(BrokerConfigException.class, () -> ClusterConfig.settings(badSnapshots));
        assertTrue(e.getMessage().contains("cluster_snapshot_every_entries"), e.getMessage());
        props.put("cluster_snapshot_every_entries", "5000");
        BrokerConfig goodSnapshots = BrokerConfig.defaults().toBuilder().dataPath(tmp.resolve("d")).properties(props).build();
        assertEquals(5000, assertDoesNotThrow(() -> ClusterConfig.settings(goodSnapshots)).snapshots().everyEntries());
        assertEquals(SnapshotPolicy.DEFAULT_PRESERVED_ENTRIES,
                assertDoesNotThrow(() -> ClusterConfig.settings(goodSnapshots)).snapshots().preservedEntries(), "the default");

        for (String bad : List.of("some", "-1", "10000001")) {
            props.put("cluster_log_preserved_entries", bad);
            BrokerConfig badPreserved = BrokerConfig.defaults().toBuilder().dataPath(tmp.resolve("d")).properties(props).build();
            e = assertThrows(BrokerConfigException.class, () -> ClusterConfig.settings(badPreserved), bad);
            assertTrue(e.getMessage().contains("cluster_log_preserved_entries"), e.getMessage());
        }
        for (long good : new long[] {0, 50}) {
            props.put("cluster_log_preserved_entries", Long.toString(good));
            BrokerConfig preserved = BrokerConfig.defaults().toBuilder().dataPath(tmp.resolve("d")).properties(props).build();
            assertEquals(good, assertDoesNotThrow(() -> ClusterConfig.settings(preserved)).snapshots().preservedEntries());
        }
    }

    record Connack(int reasonCode, String serverReference) {
    }

    /** A hand-written CONNECT (MQTT 5 or 3.1.1) and the CONNACK's reason code and Server Reference. */
    private static Connack connect(int port, boolean v5) throws IOException {
        byte[] packet = v5
                ? new byte[] {0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 1, 'c'}
                : new byte[] {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'c'};
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(packet);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            assertEquals(0x20, in.readUnsignedByte(), "CONNACK");
            int length = in.readUnsignedByte();
            byte[] body = in.readNBytes(length);
            int reason = body[1] & 0xFF;
            String reference = null;
            if (v5) {
                int propsLength = body[2] & 0xFF;
                int p = 3;
                while (p < 3 + propsLength) {
                    int id = body[p++] & 0xFF;
                    int n = ((body[p] & 0xFF) << 8) | (body[p + 1] & 0xFF);
                    String value = new String(body, p + 2, n, StandardCharsets.UTF_8);
                    p += 2 + n;
                    if (id == 0x1C) {
                        reference = value;
                    }
                }
            }
            return new Connack(reason, reference);
        }
    }
}
