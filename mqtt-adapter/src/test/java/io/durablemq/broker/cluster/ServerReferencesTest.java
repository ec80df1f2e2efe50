package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.listener.Listeners;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The per-listener Server Reference keys: the leader's own address per kind, the fallback, and bad entries refused by name. */
class ServerReferencesTest {
    private static final Set<String> PEERS = Set.of("n1", "n2", "n3");

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path dir;

    /** The keys are known to the config file reader (an unknown key is an error there), and reach this class. */
    @Test
    void theKeysLoadFromAConfigFile() throws Exception {
        java.nio.file.Path f = dir.resolve("durablemq.conf");
        java.nio.file.Files.write(f, java.util.List.of(
                "cluster_mqtt_tls_addresses n1=10.0.0.1:8883,n2=10.0.0.2:8883,n3=10.0.0.3:8883",
                "cluster_mqtt_websocket_addresses n1=10.0.0.1:8080,n2=10.0.0.2:8080,n3=10.0.0.3:8080",
                "cluster_mqtt_secure_websocket_addresses n1=10.0.0.1:8443,n2=10.0.0.2:8443,n3=10.0.0.3:8443"));
        ServerReferences r = ServerReferences.fromConfig(io.durablemq.broker.config.BrokerConfig.load(f).properties(), PEERS);
        assertEquals("10.0.0.3:8443", r.reference(Listeners.Kind.SECURE_WEBSOCKET, 9443, "n3", "10.0.0.3:1883"));
    }

    @Test
    void eachKindNamesTheLeadersListenerOfThatKind() throws Exception {
        ServerReferences r = ServerReferences.fromConfig(Map.of(
                "cluster_mqtt_tls_addresses", "n1=10.0.0.1:8883, n2=10.0.0.2:8884",
                "cluster_mqtt_secure_websocket_addresses", "n2=broker-2.example:443"), PEERS);
        assertEquals("10.0.0.2:1883", r.reference(Listeners.Kind.TCP, 1885, "n2", "10.0.0.2:1883"));
        assertEquals("10.0.0.2:8884", r.reference(Listeners.Kind.TLS, 8885, "n2", "10.0.0.2:1883"));
        assertEquals("broker-2.example:443", r.reference(Listeners.Kind.SECURE_WEBSOCKET, 8443, "n2", "10.0.0.2:1883"));
        // no key for WebSocket: the leader's plain host with this node's WebSocket port
        assertEquals("10.0.0.2:8080", r.reference(Listeners.Kind.WEBSOCKET, 8080, "n2", "10.0.0.2:1883"));
        // n3 has no TLS entry: the same fallback
        assertEquals("10.0.0.3:8885", r.reference(Listeners.Kind.TLS, 8885, "n3", "10.0.0.3:1883"));
        assertNull(r.reference(Listeners.Kind.TLS, 8885, null, null), "no leader known: no reference");
    }

    @Test
    void badEntriesAreRefusedNamingTheKey() {
        BrokerConfigException unknown = assertThrows(BrokerConfigException.class,
                () -> ServerReferences.fromConfig(Map.of("cluster_mqtt_tls_addresses", "n9=h:8883"), PEERS));
        assertTrue(unknown.getMessage().contains("cluster_mqtt_tls_addresses names 'n9'"), unknown.getMessage());
        BrokerConfigException noPort = assertThrows(BrokerConfigException.class,
                () -> ServerReferences.fromConfig(Map.of("cluster_mqtt_websocket_addresses", "n1=host"), PEERS));
        assertTrue(noPort.getMessage().startsWith("cluster_mqtt_websocket_addresses: 'n1=host'"), noPort.getMessage());
        BrokerConfigException badPort = assertThrows(BrokerConfigException.class,
                () -> ServerReferences.fromConfig(Map.of("cluster_mqtt_secure_websocket_addresses", "n1=h:99999"), PEERS));
        assertTrue(badPort.getMessage().contains("port 1..65535"), badPort.getMessage());
        BrokerConfigException twice = assertThrows(BrokerConfigException.class,
                () -> ServerReferences.fromConfig(Map.of("cluster_mqtt_tls_addresses", "n1=h:1,n1=h:2"), PEERS));
        assertTrue(twice.getMessage().contains("twice"), twice.getMessage());
    }
}
