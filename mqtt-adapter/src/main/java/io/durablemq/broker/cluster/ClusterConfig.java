package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.cluster.ClusterSettings;
import io.durablemq.cluster.Peer;
import io.durablemq.cluster.SnapshotPolicy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Reads the {@code cluster_*} keys of a broker config file. Without {@code cluster_node_id} the
 * broker is today's single node (no Ratis thread, no Raft port).
 *
 * <ul>
 *   <li>{@code cluster_node_id}: this node's id (letters, digits, '_' or '-')</li>
 *   <li>{@code cluster_peers}: every node of the group, {@code id=host:raftPort,...} (this node's
 *       entry is also where its Raft server listens)</li>
 *   <li>{@code cluster_mqtt_addresses}: optional, {@code id=host:mqttPort,...}: the Server
 *       Reference a follower sends MQTT 5 clients to</li>
 *   <li>{@code cluster_storage_path}: the Raft log folder (default {@code <data_path>-raft})</li>
 *   <li>{@code cluster_election_timeout_ms}: lower bound of the randomised election timeout (default 500)</li>
 *   <li>{@code cluster_election_timeout_max_ms}: its upper bound (default twice the lower; refused when below it)</li>
 *   <li>{@code cluster_snapshot_every_entries}: a snapshot of the store every that many Raft entries, after
 *       which the Raft log is purged (default 100000; docs/CLUSTER.md, "Snapshots")</li>
 *   <li>{@code cluster_log_preserved_entries}: a purge keeps this many of the log's last entries, so a
 *       follower down a few seconds catches up by the log instead of the leader's snapshot (default 1000;
 *       0 purges up to the snapshot)</li>
 * </ul>
 */
public final class ClusterConfig {
    /**
     * 500 ms: a dead leader is noticed 0.5 to 2 s after its last heartbeat (every 250 ms). Shorter risks
     * elections whenever a loaded machine delays a heartbeat that long; docs/CLUSTER.md, "Failover time".
     */
    static final Duration DEFAULT_ELECTION_TIMEOUT = Duration.ofMillis(500);

    private ClusterConfig() {
    }

    public static boolean isClustered(BrokerConfig config) {
        return config.properties().containsKey("cluster_node_id");
    }

    /** The cluster settings of a clustered config; {@link BrokerConfigException} names the bad key. */
    public static ClusterSettings settings(BrokerConfig config) throws BrokerConfigException {
        Map<String, String> p = config.properties();
        String nodeId = p.get("cluster_node_id").trim();
        String peersText = p.get("cluster_peers");
        if (peersText == null || peersText.isBlank()) {
            throw new BrokerConfigException("cluster_node_id is set but cluster_peers is not: expected id=host:raftPort,...");
        }
        List<Peer> peers;
        try {
            peers = ClusterSettings.parsePeers(peersText, p.get("cluster_mqtt_addresses"));
        } catch (IllegalArgumentException e) {
            throw new BrokerConfigException(e.getMessage());
        }
        Path folder = config.configFile() == null ? Path.of(".") : config.configFile().toAbsolutePath().getParent();
        String storage = p.get("cluster_storage_path");
        Path raftStorage = storage == null
                ? config.dataPath().resolveSibling(config.dataPath().getFileName() + "-raft")
                : folder.resolve(storage.trim()).normalize();
        if (inside(raftStorage, config.dataPath()) || inside(config.dataPath(), raftStorage)) {
            throw new BrokerConfigException("cluster_storage_path " + raftStorage + " and data_path " + config.dataPath()
                    + " must not contain each other");
        }
        Duration election = millis(p, "cluster_election_timeout_ms", DEFAULT_ELECTION_TIMEOUT);
        Duration electionMax = millis(p, "cluster_election_timeout_max_ms", election.multipliedBy(2));
        SnapshotPolicy snapshots = SnapshotPolicy.DEFAULT;
        if (p.get("cluster_snapshot_every_entries") != null) {
            snapshots = snapshots.withEveryEntries(number(p, "cluster_snapshot_every_entries", "entries", 100, 100_000_000));
        }
        if (p.get("cluster_log_preserved_entries") != null) {
            snapshots = snapshots.withPreservedEntries(number(p, "cluster_log_preserved_entries", "entries", 0, 10_000_000));
        }
        try {
            return new ClusterSettings(nodeId, peers, raftStorage, config.durability(), election, electionMax, snapshots);
        } catch (IllegalArgumentException e) {
            throw new BrokerConfigException(e.getMessage());
        }
    }

    /** A duration key in milliseconds, 100..60000, or {@code otherwise} when not set. */
    private static Duration millis(Map<String, String> p, String key, Duration otherwise) throws BrokerConfigException {
        return p.get(key) == null ? otherwise : Duration.ofMillis(number(p, key, "milliseconds", 100, 60_000));
    }

    /** A set numeric key within [min, max]; refused naming the key and what it counts. */
    private static long number(Map<String, String> p, String key, String unit, long min, long max) throws BrokerConfigException {
        String text = p.get(key);
        long value;
        try {
            value = Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new BrokerConfigException(key + ": '" + text + "' is not a number of " + unit);
        }
        if (value < min || value > max) {
            throw new BrokerConfigException(key + " must be " + min + ".." + max + ": " + text);
        }
        return value;
    }

    private static boolean inside(Path a, Path b) {
        return a.toAbsolutePath().normalize().startsWith(b.toAbsolutePath().normalize());
    }
}
