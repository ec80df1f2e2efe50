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
 *   <li>{@code cluster_election_timeout_ms}: lower bound of the election timeout (default 1000; the upper is twice it)</li>
 *   <li>{@code cluster_snapshot_every_entries}: a snapshot of the store every that many Raft entries, after
 *       which the Raft log is purged (default 100000; docs/CLUSTER.md, "Snapshots")</li>
 * </ul>
 */
public final class ClusterConfig {
    static final Duration DEFAULT_ELECTION_TIMEOUT = Duration.ofSeconds(1);

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
        Duration election = DEFAULT_ELECTION_TIMEOUT;
        String ms = p.get("cluster_election_timeout_ms");
        if (ms != null) {
            try {
                election = Duration.ofMillis(Long.parseLong(ms.trim()));
            } catch (NumberFormatException e) {
                throw new BrokerConfigException("cluster_election_timeout_ms: '" + ms + "' is not a number of milliseconds");
            }
            if (election.toMillis() < 100 || election.toMillis() > 60_000) {
                throw new BrokerConfigException("cluster_election_timeout_ms must be 100..60000: " + ms);
            }
        }
        SnapshotPolicy snapshots = SnapshotPolicy.DEFAULT;
        String every = p.get("cluster_snapshot_every_entries");
        if (every != null) {
            long n;
            try {
                n = Long.parseLong(every.trim());
            } catch (NumberFormatException e) {
                throw new BrokerConfigException("cluster_snapshot_every_entries: '" + every + "' is not a number of entries");
            }
            if (n < 100 || n > 100_000_000) {
                throw new BrokerConfigException("cluster_snapshot_every_entries must be 100..100000000: " + every);
            }
            snapshots = snapshots.withEveryEntries(n);
        }
        try {
            return new ClusterSettings(nodeId, peers, raftStorage, config.durability(), election, snapshots);
        } catch (IllegalArgumentException e) {
            throw new BrokerConfigException(e.getMessage());
        }
    }

    private static boolean inside(Path a, Path b) {
        return a.toAbsolutePath().normalize().startsWith(b.toAbsolutePath().normalize());
    }
}
