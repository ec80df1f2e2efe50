package io.durablemq.broker.cluster;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.cluster.ClusterSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The election timeout keys: documented defaults, and inconsistent values refused naming the key. */
class ElectionTimeoutSettingsTest {
    @TempDir
    Path tmp;

    private ClusterSettings settings(Map<String, String> extra) throws BrokerConfigException {
        Map<String, String> props = new HashMap<>(extra);
        props.put("cluster_node_id", "n1");
        props.put("cluster_peers", "n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3");
        return ClusterConfig.settings(BrokerConfig.defaults().toBuilder().dataPath(tmp.resolve("d")).properties(props).build());
    }

    private String refusal(Map<String, String> extra) {
        return assertThrows(BrokerConfigException.class, () -> settings(extra)).getMessage();
    }

    @Test
    void defaultsAre500To1000Milliseconds() throws Exception {
        ClusterSettings s = settings(Map.of());
        assertEquals(Duration.ofMillis(500), s.electionTimeout());
        assertEquals(Duration.ofMillis(1000), s.electionTimeoutMax());
    }

    @Test
    void theUpperBoundDefaultsToTwiceTheLowerAndMayBeSetApart() throws Exception {
        assertEquals(Duration.ofMillis(1600), settings(Map.of("cluster_election_timeout_ms", "800")).electionTimeoutMax());
        ClusterSettings s = settings(Map.of("cluster_election_timeout_ms", "300", "cluster_election_timeout_max_ms", "450"));
        assertEquals(Duration.ofMillis(300), s.electionTimeout());
        assertEquals(Duration.ofMillis(450), s.electionTimeoutMax());
    }

    @Test
    void anUpperBoundBelowTheLowerIsRefusedNamingBothKeys() {
        String m = refusal(Map.of("cluster_election_timeout_ms", "1000", "cluster_election_timeout_max_ms", "900"));
        assertTrue(m.contains("cluster_election_timeout_max_ms (900) must be at least cluster_election_timeout_ms (1000)"), m);
    }

    @Test
    void badValuesAreRefusedNamingTheKey() {
        String m = refusal(Map.of("cluster_election_timeout_max_ms", "soon"));
        assertTrue(m.contains("cluster_election_timeout_max_ms: 'soon' is not a number"), m);
        m = refusal(Map.of("cluster_election_timeout_ms", "50"));
        assertTrue(m.contains("cluster_election_timeout_ms must be 100..60000"), m);
        m = refusal(Map.of("cluster_election_timeout_max_ms", "70000"));
        assertTrue(m.contains("cluster_election_timeout_max_ms must be 100..60000"), m);
    }
}
