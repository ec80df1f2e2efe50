package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.listener.Listeners;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Where a follower sends an MQTT 5 client (the CONNACK's Server Reference): to the leader's address
 * of the listener kind the client came in on, so a TLS client is sent to a TLS port, a WebSocket
 * client to a WebSocket port. Per node and per kind from the {@code cluster_*_addresses} keys
 * ({@code id=host:port,...}); a kind without its key falls back to the leader's plain
 * {@code cluster_mqtt_addresses} host with this node's port of that kind (right when every node
 * uses the same ports, as behind a load balancer).
 */
final class ServerReferences {
    /** The config key per listener kind (plain: cluster_mqtt_addresses, read into the peers). */
    static final Map<Listeners.Kind, String> KEYS = Map.of(
            Listeners.Kind.TLS, "cluster_mqtt_tls_addresses",
            Listeners.Kind.WEBSOCKET, "cluster_mqtt_websocket_addresses",
            Listeners.Kind.SECURE_WEBSOCKET, "cluster_mqtt_secure_websocket_addresses");

    private final Map<Listeners.Kind, Map<String, String>> byKind;

    private ServerReferences(Map<Listeners.Kind, Map<String, String>> byKind) {
        this.byKind = byKind;
    }

    /** Reads the keys; a malformed entry, or an id not in {@code peerIds}, is refused naming the key. */
    static ServerReferences fromConfig(Map<String, String> properties, Set<String> peerIds) throws BrokerConfigException {
        Map<Listeners.Kind, Map<String, String>> byKind = new EnumMap<>(Listeners.Kind.class);
        for (Map.Entry<Listeners.Kind, String> k : KEYS.entrySet()) {
            String text = properties.get(k.getValue());
            if (text != null && !text.isBlank()) {
                byKind.put(k.getKey(), parse(k.getValue(), text, peerIds));
            }
        }
        return new ServerReferences(byKind);
    }

    /**
     * The Server Reference for a client on a listener of {@code kind} whose port here is {@code ownPort},
     * or null (no leader known, or no address for it).
     *
     * @param leaderId           the leader's node id, or null
     * @param leaderPlainAddress the leader's {@code cluster_mqtt_addresses} entry, or null
     */
    String reference(Listeners.Kind kind, int ownPort, String leaderId, String leaderPlainAddress) {
        if (leaderId == null) {
            return null;
        }
        if (kind == Listeners.Kind.TCP) {
            return leaderPlainAddress;
        }
        String configured = byKind.getOrDefault(kind, Map.of()).get(leaderId);
        return configured != null ? configured : ConnectRedirector.withPort(leaderPlainAddress, ownPort);
    }

    private static Map<String, String> parse(String key, String text, Set<String> peerIds) throws BrokerConfigException {
        Map<String, String> out = new LinkedHashMap<>();
        for (String item : text.split(",")) {
            String t = item.trim();
            if (t.isEmpty()) {
                continue;
            }
            int eq = t.indexOf('=');
            String id = eq <= 0 ? "" : t.substring(0, eq).trim();
            String address = eq <= 0 ? "" : t.substring(eq + 1).trim();
            int colon = address.lastIndexOf(':');
            if (id.isEmpty() || colon <= 0 || !validPort(address.substring(colon + 1))) {
                throw new BrokerConfigException(key + ": '" + t + "' is not id=host:port (port 1..65535)");
            }
            if (!peerIds.contains(id)) {
                throw new BrokerConfigException(key + " names '" + id + "', which is not in cluster_peers " + peerIds);
            }
            if (out.put(id, address) != null) {
                throw new BrokerConfigException(key + " names '" + id + "' twice");
            }
        }
        return out;
    }

    private static boolean validPort(String text) {
        try {
            int port = Integer.parseInt(text);
            return port >= 1 && port <= 65_535;
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
