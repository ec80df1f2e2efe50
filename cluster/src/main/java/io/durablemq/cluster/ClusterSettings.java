package io.durablemq.cluster;

import io.durablemq.engine.store.Durability;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A node's cluster settings: which peer it is, every peer of the group, where Raft keeps its
 * log, and the durability mode (fsync: each Raft log append is fsynced before the node
 * counts towards a majority; os: handed to the OS).
 *
 * @param nodeId          this node's id, one of {@code peers}
 * @param peers           every member of the group, this node included
 * @param raftStorage     the Raft log and metadata folder (not the RocksDB data folder)
 * @param durability      fsync or os, as for the single node
 * @param electionTimeout    the lower bound of Raft's randomised election timeout
 * @param electionTimeoutMax its upper bound: a follower that heard nothing from the leader for a random time
 *                           in between starts an election (docs/CLUSTER.md, "Failover time")
 * @param snapshots          when snapshots are taken and the Raft log purged
 */
public record ClusterSettings(String nodeId, List<Peer> peers, Path raftStorage, Durability durability,
                              Duration electionTimeout, Duration electionTimeoutMax, SnapshotPolicy snapshots) {
    /**
     * A cluster node's default {@code commit_batches_in_flight} (a single node's is 4): with 2 Raft entries
     * outstanding instead of 4 each entry carries about 1.7x the messages, and the three nodes spent 8-15 %
     * less CPU per message at the same or a higher rate on one 2-vCPU machine (docs/CLUSTER.md "Entry size
     * and CPU per message (s22)"); one entry still travels while the next is cut.
     */
    public static final int DEFAULT_COMMIT_BATCHES_IN_FLIGHT = 2;

    public ClusterSettings {
        Objects.requireNonNull(nodeId, "nodeId");
        Objects.requireNonNull(snapshots, "snapshots");
        Objects.requireNonNull(raftStorage, "raftStorage");
        Objects.requireNonNull(durability, "durability");
        Objects.requireNonNull(electionTimeout, "electionTimeout");
        Objects.requireNonNull(electionTimeoutMax, "electionTimeoutMax");
        if (electionTimeoutMax.compareTo(electionTimeout) < 0) {
            throw new IllegalArgumentException("cluster_election_timeout_max_ms (" + electionTimeoutMax.toMillis()
                    + ") must be at least cluster_election_timeout_ms (" + electionTimeout.toMillis() + ")");
        }
        peers = List.copyOf(peers);
        if (peers.stream().noneMatch(p -> p.id().equals(nodeId))) {
            throw new IllegalArgumentException("cluster_node_id '" + nodeId + "' is not among cluster_peers "
                    + peers.stream().map(Peer::id).toList());
        }
        if (peers.stream().map(Peer::id).distinct().count() != peers.size()) {
            throw new IllegalArgumentException("cluster_peers names a peer id twice: " + peers.stream().map(Peer::id).toList());
        }
    }

    /** The upper bound twice the lower one (the broker's default ratio), the default snapshot policy. */
    public ClusterSettings(String nodeId, List<Peer> peers, Path raftStorage, Durability durability, Duration electionTimeout) {
        this(nodeId, peers, raftStorage, durability, electionTimeout, electionTimeout.multipliedBy(2));
    }

    /** The default snapshot policy. */
    public ClusterSettings(String nodeId, List<Peer> peers, Path raftStorage, Durability durability, Duration electionTimeout,
                           Duration electionTimeoutMax) {
        this(nodeId, peers, raftStorage, durability, electionTimeout, electionTimeoutMax, SnapshotPolicy.DEFAULT);
    }

    /** The upper election bound twice the lower one. */
    public ClusterSettings(String nodeId, List<Peer> peers, Path raftStorage, Durability durability, Duration electionTimeout,
                           SnapshotPolicy snapshots) {
        this(nodeId, peers, raftStorage, durability, electionTimeout, electionTimeout.multipliedBy(2), snapshots);
    }

    public ClusterSettings withSnapshots(SnapshotPolicy policy) {
        return new ClusterSettings(nodeId, peers, raftStorage, durability, electionTimeout, electionTimeoutMax, policy);
    }

    public Peer self() {
        return peers.stream().filter(p -> p.id().equals(nodeId)).findFirst().orElseThrow();
    }

    public Peer peer(String id) {
        return peers.stream().filter(p -> p.id().equals(id)).findFirst().orElse(null);
    }

    /**
     * Parses {@code cluster_peers} ({@code id=host:port,...}) and the optional
     * {@code cluster_mqtt_addresses} ({@code id=host:port,...}, for CONNECT redirection).
     */
    public static List<Peer> parsePeers(String peersText, String mqttAddressesText) {
        Map<String, String> mqtt = parseMap("cluster_mqtt_addresses", mqttAddressesText == null ? "" : mqttAddressesText);
        Map<String, String> raft = parseMap("cluster_peers", peersText);
        if (raft.isEmpty()) {
            throw new IllegalArgumentException("cluster_peers is empty: expected id=host:port,...");
        }
        for (String id : mqtt.keySet()) {
            if (!raft.containsKey(id)) {
                throw new IllegalArgumentException("cluster_mqtt_addresses names '" + id + "', which is not in cluster_peers");
            }
        }
        List<Peer> peers = new ArrayList<>();
        raft.forEach((id, address) -> {
            int colon = address.lastIndexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("cluster_peers: '" + id + "=" + address + "' is not id=host:port");
            }
            int port;
            try {
                port = Integer.parseInt(address.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("cluster_peers: '" + id + "=" + address + "' has no numeric port");
            }
            peers.add(new Peer(id, address.substring(0, colon), port, mqtt.get(id)));
        });
        return peers;
    }

    private static Map<String, String> parseMap(String key, String text) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String item : text.split(",")) {
            String t = item.trim();
            if (t.isEmpty()) {
                continue;
            }
            int eq = t.indexOf('=');
            if (eq <= 0 || eq == t.length() - 1) {
                throw new IllegalArgumentException(key + ": '" + t + "' is not id=host:port");
            }
            if (out.put(t.substring(0, eq).trim(), t.substring(eq + 1).trim()) != null) {
                throw new IllegalArgumentException(key + " names '" + t.substring(0, eq).trim() + "' twice");
            }
        }
        return out;
    }
}
