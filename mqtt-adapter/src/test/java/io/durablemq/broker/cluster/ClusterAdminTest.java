package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfig;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
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
    private final List<ClusterBroker> nodes = new ArrayList<>();
    private final int[] mqtt = new int[3];
    private final int[] metrics = new int[3];

    @AfterEach
    void closeAll() {
        nodes.forEach(ClusterBroker::close);
    }

    @Test
    void everyNodeBacksUpItsOwnStoreAtItsAppliedIndex() throws Exception {
        startCluster(b -> b);
        int leader = awaitServing();
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
        long ackedAt = nodes.get(leader).node().raftStatus().appliedIndex();

        for (int i = 0; i < 3; i++) {
            ClusterBroker n = nodes.get(i);
            assertTrue(await(() -> n.node().raftStatus().appliedIndex() >= ackedAt), "n" + (i + 1) + " applies index " + ackedAt);
            Http answer = backupRetryingWhileReplaying(metrics[i], "b" + i);
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
        assertEquals(409, post(metrics[leader], "/admin/backup?name=b" + leader).status());
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
        int[] index = {0};
        startCluster(b -> {
            int i = index[0]++;
            return b.allowAnonymous(false).passwordFile(tmp.resolve("passwords" + i + ".conf")).aclFile(acl[i]);
        });
        int leader = awaitServing();
        int follower = (leader + 1) % 3;
        Http onLeader = post(metrics[leader], "/admin/reload");
        assertEquals(200, onLeader.status(), onLeader.body());
        assertTrue(onLeader.body().contains("serving leader") && onLeader.body().contains("reloaded"), onLeader.body());
        Http onFollower = post(metrics[follower], "/admin/reload");
        assertEquals(200, onFollower.status(), onFollower.body());
        assertTrue(onFollower.body().contains("FOLLOWING") && onFollower.body().contains("checked"), onFollower.body());

        for (int i = 0; i < 3; i++) {
            Files.write(acl[i], List.of("user alice", "topic sometimes alice/#"));
        }
        Http badOnFollower = post(metrics[follower], "/admin/reload");
        assertEquals(422, badOnFollower.status(), badOnFollower.body());
        assertTrue(badOnFollower.body().contains(acl[follower].getFileName().toString()), "names the file: " + badOnFollower.body());
        Http badOnLeader = post(metrics[leader], "/admin/reload");
        assertEquals(422, badOnLeader.status(), badOnLeader.body());
        assertTrue(badOnLeader.body().contains("previous rules stay"), badOnLeader.body());
    }

    private void startCluster(UnaryOperator<BrokerConfig.Builder> tweak) throws Exception {
        StringBuilder peers = new StringBuilder();
        StringBuilder addresses = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            mqtt[i] = freePort();
            metrics[i] = freePort();
            peers.append(i == 0 ? "" : ",").append("n").append(i + 1).append("=127.0.0.1:").append(freePort());
            addresses.append(i == 0 ? "" : ",").append("n").append(i + 1).append("=127.0.0.1:").append(mqtt[i]);
        }
        for (int i = 0; i < 3; i++) {
            Map<String, String> props = new HashMap<>();
            props.put("cluster_node_id", "n" + (i + 1));
            props.put("cluster_peers", peers.toString());
            props.put("cluster_mqtt_addresses", addresses.toString());
            props.put("cluster_storage_path", tmp.resolve("raft" + i).toString());
            BrokerConfig config = tweak.apply(BrokerConfig.defaults().toBuilder().port(mqtt[i]).metricsPort(metrics[i])
                    .dataPath(tmp.resolve("data" + i)).backupDir(tmp.resolve("backups" + i)).durability(Durability.OS)
                    .properties(props)).build();
            nodes.add(ClusterBroker.start(config));
        }
    }

    private record Http(int status, String body) {
    }

    private static Http post(int port, String path) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + port + path).toURL().openConnection();
        c.setRequestMethod("POST");
        c.setConnectTimeout(5_000);
        c.setReadTimeout(60_000);
        int status = c.getResponseCode();
        try (InputStream in = status < 400 ? c.getInputStream() : c.getErrorStream()) {
            return new Http(status, in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    /**
     * 503 is the documented "try again shortly" while a node has entries in its log it has not
     * applied yet (the publisher's disconnect can append one after the awaited index); a client retries.
     */
    private static Http backupRetryingWhileReplaying(int port, String name) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Http answer = post(port, "/admin/backup?name=" + name);
        while (answer.status() == 503 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            answer = post(port, "/admin/backup?name=" + name);
        }
        return answer;
    }

    private int awaitServing() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < nodes.size(); i++) {
                if (nodes.get(i).node().role() == NodeRole.SERVING && nodes.get(i).isReady()) {
                    return i;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no node serves within 120 s");
    }

    private static boolean await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(50);
        }
        return condition.getAsBoolean();
    }

    /** Ports this JVM handed out already: the OS may give a just-closed port again, and two nodes must not share one. */
    private static final java.util.Set<Integer> HANDED_OUT = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static int freePort() throws IOException {
        while (true) {
            try (ServerSocket s = new ServerSocket(0)) {
                if (HANDED_OUT.add(s.getLocalPort())) {
                    return s.getLocalPort();
                }
            }
        }
    }
}
