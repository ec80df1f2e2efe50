package io.durablemq.broker.cluster;

import io.durablemq.broker.security.PasswordFile;
import io.durablemq.broker.security.PasswordHash;
import io.durablemq.cluster.NodeRole;
import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.SessionSnapshot;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code POST /admin/backup} and {@code POST /admin/reload} on a cluster node (three {@code ClusterBroker}s in one
 * JVM, real Ratis on loopback, real RocksDB, Paho clients): a backup is written on the leader and on a follower,
 * each from the node's own store, names its applied index, and opens as a store that holds every message
 * acknowledged before it; a reload reloads the leader's password and ACL files and checks a follower's (an error
 * in them is reported by both, and the leader keeps its previous rules).
 */
@Timeout(180)
class ClusterAdminTest {
    private static final Pattern APPLIED = Pattern.compile("\"applied_index\":(\\d+)");
    @TempDir
    Path tmp;
    @RegisterExtension
    final ClusterBrokers cluster = new ClusterBrokers();
    private final int[] mqtt = cluster.mqtt;
    private final int[] metrics = cluster.metrics;

    @Test
    void everyNodeBacksUpItsOwnStoreAtItsAppliedIndex() throws Exception {
        int leader = cluster.startAll((i, b, props) -> b.backupDir(tmp.resolve("backups" + i)));
        // An offline persistent session whose queue the acknowledged messages fill.
        MqttClient sub = new MqttClient("tcp://127.0.0.1:" + mqtt[leader], "offline-sub", new MemoryPersistence());
        MqttConnectOptions keep = new MqttConnectOptions();
        keep.setCleanSession(false);
        sub.connect(keep);
        sub.subscribe("q/#", 1);
        sub.disconnect();
        sub.close();
        MqttClient pub = new MqttClient("tcp://127.0.0.1:" + mqtt[leader], "pub", new MemoryPersistence());
        pub.connect();
        for (int i = 0; i < 20; i++) {
            pub.publish("q/" + i, ("m" + i).getBytes(StandardCharsets.UTF_8), 1, false); // returns on PUBACK
        }
        pub.disconnect();
        pub.close();
        long ackedAt = cluster.node(leader).raftStatus().appliedIndex();

        for (int i = 0; i < 3; i++) {
            ClusterBroker n = cluster.broker(i);
            assertTrue(ClusterBrokers.await(() -> n.node().raftStatus().appliedIndex() >= ackedAt, 60), "n" + (i + 1) + " applies index " + ackedAt);
            NodeHttp.Answer answer = backupRetryingWhileReplaying(metrics[i], "b" + i);
            assertEquals(200, answer.status(), answer.body());
            String role = i == leader ? NodeRole.SERVING.name() : NodeRole.FOLLOWING.name();
            assertTrue(answer.body().contains("\"node\":\"n" + (i + 1) + "\"") && answer.body().contains("\"role\":\"" + role + "\""),
                    answer.body());
            Matcher m = APPLIED.matcher(answer.body());
            assertTrue(m.find(), answer.body());
            assertTrue(Long.parseLong(m.group(1)) >= ackedAt, "applied index " + m.group(1) + " covers " + ackedAt);
            Path copy = tmp.resolve("backups" + i).resolve("b" + i);
            assertTrue(Files.isDirectory(copy), "backup folder " + copy);
            // The copy is a store a single node starts on, with all 20 acknowledged messages queued.
            try (Engine restored = Engine.open(EngineConfig.defaults(copy).withDurability(Durability.OS), new SimpleMeterRegistry())) {
                SessionSnapshot s = restored.session("offline-sub");
                assertNotNull(s, "the session is in n" + (i + 1) + "'s backup");
                assertEquals(20, s.queuedMessages(), "queued messages in n" + (i + 1) + "'s backup");
            }
        }
        // A second backup under the same name is refused, as on a single node.
        assertEquals(409, NodeHttp.post(metrics[leader], "/admin/backup?name=b" + leader).status());
    }

    @Test
    void theLeaderReloadsItsSecurityFilesAndAFollowerChecksItsOwn() throws Exception {
        Path[] acl = new Path[3];
        for (int i = 0; i < 3; i++) {
            Path passwords = tmp.resolve("passwords" + i + ".conf");
            PasswordFile.setUser(passwords, "alice", PasswordHash.pbkdf2("alice-pw".toCharArray(), 1_000));
            acl[i] = tmp.resolve("acl" + i + ".conf");
            Files.write(acl[i], List.of("user alice", "topic readwrite alice/#"));
        }
        int leader = cluster.startAll((i, b, props) -> b.backupDir(tmp.resolve("backups" + i)).allowAnonymous(false)
                .passwordFile(tmp.resolve("passwords" + i + ".conf")).aclFile(acl[i]));
        int follower = (leader + 1) % 3;
        NodeHttp.Answer onLeader = NodeHttp.post(metrics[leader], "/admin/reload");
        assertEquals(200, onLeader.status(), onLeader.body());
        assertTrue(onLeader.body().contains("serving leader") && onLeader.body().contains("reloaded"), onLeader.body());
        NodeHttp.Answer onFollower = NodeHttp.post(metrics[follower], "/admin/reload");
        assertEquals(200, onFollower.status(), onFollower.body());
        assertTrue(onFollower.body().contains("FOLLOWING") && onFollower.body().contains("checked"), onFollower.body());

        for (int i = 0; i < 3; i++) {
            Files.write(acl[i], List.of("user alice", "topic sometimes alice/#"));
        }
        NodeHttp.Answer badOnFollower = NodeHttp.post(metrics[follower], "/admin/reload");
        assertEquals(422, badOnFollower.status(), badOnFollower.body());
        assertTrue(badOnFollower.body().contains(acl[follower].getFileName().toString()), "names the file: " + badOnFollower.body());
        NodeHttp.Answer badOnLeader = NodeHttp.post(metrics[leader], "/admin/reload");
        assertEquals(422, badOnLeader.status(), badOnLeader.body());
        assertTrue(badOnLeader.body().contains("previous rules stay"), badOnLeader.body());
    }

    /**
     * 503 is the documented "try again shortly" while a node has entries in its log it has not
     * applied yet (the publisher's disconnect can append one after the awaited index); a client retries.
     */
    private static NodeHttp.Answer backupRetryingWhileReplaying(int port, String name) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        NodeHttp.Answer answer = NodeHttp.post(port, "/admin/backup?name=" + name);
        while (answer.status() == 503 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            answer = NodeHttp.post(port, "/admin/backup?name=" + name);
        }
        return answer;
    }
}
