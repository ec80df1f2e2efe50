package io.durablemq.cluster;

import java.util.Objects;

/**
 * One member of the Raft group: its id, the address its Raft server listens on, and the MQTT
 * address clients are sent to when it leads (null when not configured: followers then answer
 * CONNECT without a Server Reference).
 */
public record Peer(String id, String raftHost, int raftPort, String mqttAddress) {
    public Peer {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(raftHost, "raftHost");
        if (!id.matches("[A-Za-z0-9_-]{1,64}")) {
            throw new IllegalArgumentException("cluster peer id must be 1-64 letters, digits, '_' or '-': '" + id + "'");
        }
        if (raftPort < 1 || raftPort > 65_535) {
            throw new IllegalArgumentException("cluster peer " + id + ": raft port must be 1..65535: " + raftPort);
        }
    }

    public String raftAddress() {
        return raftHost + ":" + raftPort;
    }
}
