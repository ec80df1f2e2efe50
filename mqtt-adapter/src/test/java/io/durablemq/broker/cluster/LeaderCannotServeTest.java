package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.security.PasswordFile;
import io.durablemq.broker.security.PasswordHash;
import io.durablemq.cluster.ClusterNode;
import io.durablemq.cluster.NodeRole;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A leader whose broker cannot start (here: an ACL file with an error) gives its Raft leadership to
 * another node instead of keeping it while nobody serves (docs/CLUSTER.md, "A leader that cannot
 * serve"). Three {@link ClusterBroker}s in one JVM, real Ratis on loopback, real RocksDB, a Paho client.
 *
 * <p>n1 and n2 both have a broken ACL file and start first, so whichever of them is elected cannot
 * serve: both must fail to start serving (leadership moved from the first to the other; without the
 * hand-off the first keeps leading and the other never leads). Then n3, whose files are good, joins:
 * it must end up leading and acknowledge a QoS 1 publish, while n1 and n2 never served. Last, n1's file
 * is fixed and n3 stopped: n1 can lead again (n2, still broken, hands leadership to it if elected).
 */
@Timeout(300)
class LeaderCannotServeTest {
    private static final Pattern FAILURES = Pattern.compile("(?m)^durablemq_cluster_serving_start_failures_total (\\S+)$");
    @TempDir
    Path tmp;
    @RegisterExtension
    final ClusterBrokers cluster = new ClusterBrokers();
    private final int[] mqtt = cluster.mqtt;
    private final int[] metrics = cluster.metrics;
    private final Path[] acl = new Path[3];
    private List<BrokerConfig> configs;

    @Test
    void aLeaderWhoseAclFileIsBrokenHandsLeadershipToANodeThatServes() throws Exception {
        prepareConfigs();
        for (int i = 0; i < 2; i++) { // n1 and n2: broken ACL files
            Files.write(acl[i], List.of("user alice", "topic sometimes alice/#"));
        }
        cluster.start(configs.get(0));
        cluster.start(configs.get(1));

        // Whichever of n1 and n2 leads fails to serve and hands on; the other then leads and fails too.
        assertTrue(ClusterBrokers.await(() -> node(0).servingStartFailures() >= 1 && node(1).servingStartFailures() >= 1, 90),
                "leadership did not leave a leader that cannot serve: start failures n1 " + node(0).servingStartFailures()
                        + ", n2 " + node(1).servingStartFailures() + " (n1 " + node(0).raftStatus() + ", n2 " + node(1).raftStatus() + ")");
        for (int i = 0; i < 2; i++) {
            assertEquals(0, node(i).leaderChanges(), "n" + (i + 1) + " has a broken ACL file and never serves");
            assertTrue(node(i).lastStartFailure() != null && node(i).lastStartFailure().contains(acl[i].getFileName().toString()),
                    "the failure names the ACL file: " + node(i).lastStartFailure());
        }

        cluster.start(configs.get(2));
        int serving = cluster.awaitServing(120);
        assertEquals(2, serving, "only n3 can serve");
        publishAcknowledged(serving, "alice/after-handoff");
        for (int i = 0; i < 2; i++) {
            assertEquals(0, node(i).leaderChanges(), "n" + (i + 1) + " never served");
            assertTrue(node(i).role() != NodeRole.SERVING, "n" + (i + 1) + " does not serve");
            assertEquals(503, NodeHttp.status(metrics[i], "/ready"), "/ready of n" + (i + 1));
            double failures = failuresOnMetrics(i);
            assertTrue(failures >= 1, "n" + (i + 1) + "'s /metrics counts its failed starts: " + failures);
            assertTrue(NodeHttp.body(metrics[i], "/cluster").contains("last_start_failure"), "n" + (i + 1) + "'s /cluster says why");
        }
        assertTrue(node(0).leadershipHandoffs() + node(1).leadershipHandoffs() >= 1,
                "leadership handed on: n1 " + node(0).leadershipHandoffs() + ", n2 " + node(1).leadershipHandoffs());

        // The operator fixes n1's file; the serving node goes away. n1 leads (directly, or handed on by n2) and serves.
        Files.write(acl[0], List.of("user alice", "topic readwrite alice/#"));
        cluster.stop(2);
        assertEquals(0, cluster.awaitServing(120), "n1, fixed, serves again (n2 is still broken)");
        publishAcknowledged(0, "alice/after-fix");
        assertEquals(0, node(1).leaderChanges(), "n2, still broken, never served");
    }

    private ClusterNode node(int i) {
        return cluster.node(i);
    }

    private void prepareConfigs() throws Exception {
        for (int i = 0; i < 3; i++) {
            Path passwords = tmp.resolve("passwords" + i + ".conf");
            PasswordFile.setUser(passwords, "alice", PasswordHash.pbkdf2("alice-pw".toCharArray(), 1_000));
            acl[i] = tmp.resolve("acl" + i + ".conf");
            Files.write(acl[i], List.of("user alice", "topic readwrite alice/#"));
        }
        configs = cluster.configs((i, b, props) -> b.allowAnonymous(false)
                .passwordFile(tmp.resolve("passwords" + i + ".conf")).aclFile(acl[i]));
    }

    /** A QoS 1 publish as alice through node {@code i}; Paho's publish returns on the PUBACK. */
    private void publishAcknowledged(int i, String topic) throws Exception {
        MqttClient client = new MqttClient("tcp://127.0.0.1:" + mqtt[i], "pub-" + i, new MemoryPersistence());
        MqttConnectOptions o = new MqttConnectOptions();
        o.setUserName("alice");
        o.setPassword("alice-pw".toCharArray());
        o.setConnectionTimeout(20);
        client.setTimeToWait(20_000);
        client.connect(o);
        client.publish(topic, "hello".getBytes(StandardCharsets.UTF_8), 1, false);
        client.disconnect();
        client.close();
    }

    private double failuresOnMetrics(int i) throws IOException {
        Matcher m = FAILURES.matcher(NodeHttp.body(metrics[i], "/metrics"));
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }
}
