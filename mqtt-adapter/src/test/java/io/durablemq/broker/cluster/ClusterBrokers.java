package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.cluster.ClusterNode;
import io.durablemq.cluster.NodeRole;
import io.durablemq.engine.store.Durability;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * Three {@link ClusterBroker}s in one JVM on loopback (real Ratis, real RocksDB, real sockets), for the broker's
 * cluster tests: {@code @RegisterExtension final ClusterBrokers cluster = new ClusterBrokers();}. Each test gets
 * fresh ports and a fresh folder (node {@code i}, from 0, is {@code n(i+1)} with folders {@code data<i>} and
 * {@code raft<i>}); after it every started broker is closed, whether the test passed or not, and the folder deleted.
 *
 * <p>{@link #configs} gives the three nodes' settings (MQTT and metrics port, peers, MQTT addresses, storage
 * folders, durability OS) with a test's own changes; {@link #startAll} starts all three, {@link #start} one.
 */
final class ClusterBrokers implements BeforeEachCallback, AfterEachCallback {
    static final int NODES = 3;

    /** A test's changes to node {@code node}'s settings: its builder and its cluster properties (changeable). */
    @FunctionalInterface
    interface NodeSettings {
        BrokerConfig.Builder apply(int node, BrokerConfig.Builder builder, Map<String, String> props);
    }

    final int[] mqtt = new int[NODES];
    final int[] metrics = new int[NODES];
    private final int[] raft = new int[NODES];
    private final List<ClusterBroker> brokers = new ArrayList<>();
    private Path folder;

    @Override
    public void beforeEach(ExtensionContext context) throws IOException {
        folder = Files.createTempDirectory("durablemq-cluster-brokers-");
        for (int i = 0; i < NODES; i++) {
            mqtt[i] = freePort();
            metrics[i] = freePort();
            raft[i] = freePort();
        }
    }

    /** The test's folder (the nodes' data and Raft folders are in it). */
    Path folder() {
        return folder;
    }

    /** {@code cluster_peers} of the three nodes. */
    String peers() {
        return addresses(raft);
    }

    /** {@code n1=127.0.0.1:ports[0],n2=...}: an address list as the {@code cluster_*_addresses} keys take it. */
    static String addresses(int[] ports) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < ports.length; i++) {
            s.append(i == 0 ? "" : ",").append("n").append(i + 1).append("=127.0.0.1:").append(ports[i]);
        }
        return s.toString();
    }

    /** A free port per node (for a test's further listeners). */
    static int[] freePorts() throws IOException {
        int[] ports = new int[NODES];
        for (int i = 0; i < NODES; i++) {
            ports[i] = freePort();
        }
        return ports;
    }

    /** The three nodes' settings, each changed by {@code settings}. */
    List<BrokerConfig> configs(NodeSettings settings) {
        List<BrokerConfig> configs = new ArrayList<>();
        for (int i = 0; i < NODES; i++) {
            Map<String, String> props = new HashMap<>();
            props.put("cluster_node_id", "n" + (i + 1));
            props.put("cluster_peers", peers());
            props.put("cluster_mqtt_addresses", addresses(mqtt));
            props.put("cluster_storage_path", folder.resolve("raft" + i).toString());
            BrokerConfig.Builder b = BrokerConfig.defaults().toBuilder().port(mqtt[i]).metricsPort(metrics[i])
                    .dataPath(folder.resolve("data" + i)).durability(Durability.OS);
            configs.add(settings.apply(i, b, props).properties(props).build());
        }
        return configs;
    }

    /** Starts the three nodes, each with its settings changed by {@code settings}; returns the index of the one that serves. */
    int startAll(NodeSettings settings) throws Exception {
        for (BrokerConfig config : configs(settings)) {
            start(config);
        }
        return awaitServing(120);
    }

    /** Starts the three nodes as they are by default; returns the index of the one that serves. */
    int startAll() throws Exception {
        return startAll((i, b, props) -> b);
    }

    /** Starts a broker (the next index); it is closed after the test. */
    ClusterBroker start(BrokerConfig config) throws Exception {
        ClusterBroker broker = ClusterBroker.start(config);
        brokers.add(broker);
        return broker;
    }

    ClusterBroker broker(int i) {
        return brokers.get(i);
    }

    ClusterNode node(int i) {
        return brokers.get(i).node();
    }

    /** Closes broker {@code i}; it is no longer counted by {@link #awaitServing}. */
    void stop(int i) {
        ClusterBroker b = brokers.set(i, null);
        if (b != null) {
            b.close();
        }
    }

    /** Waits (bounded) until a running broker serves and says ready; returns its index. */
    int awaitServing(int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < brokers.size(); i++) {
                ClusterBroker b = brokers.get(i);
                if (b != null && b.node().role() == NodeRole.SERVING && b.isReady()) {
                    return i;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no node serves within " + seconds + " s");
    }

    static boolean await(BooleanSupplier condition, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(50);
        }
        return condition.getAsBoolean();
    }

    static int freePort() throws IOException {
        return io.durablemq.engine.support.ListenPorts.free(); // below the ephemeral range: see ListenPorts
    }

    @Override
    public void afterEach(ExtensionContext context) throws IOException {
        for (int i = 0; i < brokers.size(); i++) {
            stop(i);
        }
        brokers.clear();
        try (Stream<Path> walk = Files.walk(folder)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
