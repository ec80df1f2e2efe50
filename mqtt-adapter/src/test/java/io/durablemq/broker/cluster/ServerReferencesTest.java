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
