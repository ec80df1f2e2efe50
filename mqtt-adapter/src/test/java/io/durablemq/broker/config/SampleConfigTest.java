package io.durablemq.broker.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Keeps ops/config/durablemq.conf and CONFIG.md in step with the keys the reader knows. */
class SampleConfigTest {

    private static final Path SAMPLE = Path.of("..", "ops", "config", "durablemq.conf");
    private static final Path DOC = Path.of("CONFIG.md");

    /**
     * Keys whose sample values name files, classes or secrets rather than defaults; and
     * allow_anonymous, whose default is "not set" (Mosquitto 2's rule), which no value shows; and
     * io_threads, whose default is two per core, which depends on the machine.
     */
    private static final Set<String> NOT_DEFAULTS = Set.of("password_file", "acl_file", "authenticator_class",
            "authorizator_class", "intercept.handler", "jks_path", "key_store_type", "key_store_password",
            "key_manager_password", "need_client_auth", "trust_store_path", "trust_store_password", "data_path",
            "backup_dir", "allow_anonymous", "io_threads",
            // a cluster has no default shape: setting cluster_node_id makes the node a cluster member
            "cluster_node_id", "cluster_peers", "cluster_mqtt_addresses", "cluster_storage_path",
            "cluster_mqtt_tls_addresses", "cluster_mqtt_websocket_addresses", "cluster_mqtt_secure_websocket_addresses");

    @TempDir
    Path dir;

    @Test
    void sampleAndDocumentListEveryKey() throws Exception {
        String sample = Files.readString(SAMPLE);
        String doc = Files.readString(DOC);
        for (String key : ConfigFileReader.KNOWN_KEYS) {
            assertTrue(sample.contains("\n#" + key + " "), "sample config lacks " + key);
            assertTrue(doc.contains("| `" + key + "` |"), "CONFIG.md lacks a row for " + key);
        }
        for (String key : ConfigFileReader.IGNORED_MOQUETTE_KEYS.keySet()) {
            String shown = key.startsWith("metrics.librato.") ? "metrics.librato.*" : key;
            assertTrue(doc.contains("`" + shown + "`"), "CONFIG.md does not list ignored key " + key);
        }
    }

    @Test
    void sampleLoadsAsIsAndItsValuesAreTheDefaults() throws Exception {
        assertEquals(BrokerConfig.defaults().limits(), BrokerConfig.load(SAMPLE).limits());

        List<String> uncommented = Files.readAllLines(SAMPLE).stream()
                .filter(l -> l.matches("#[a-z][a-z_.]* .*"))
                .map(l -> l.substring(1))
                .filter(l -> !NOT_DEFAULTS.contains(l.split(" ")[0]) && !l.startsWith("plugin."))
                .collect(Collectors.toList());
        assertEquals(ConfigFileReader.KNOWN_KEYS.size() - NOT_DEFAULTS.size(), uncommented.size(), uncommented::toString);
        Path f = dir.resolve("uncommented.conf");
        Files.write(f, uncommented);
        BrokerConfig fromSample = BrokerConfig.load(f);
        BrokerConfig d = BrokerConfig.defaults();
        assertEquals(d.toBuilder().configFile(fromSample.configFile()).properties(fromSample.properties()).build(),
                fromSample);
    }
}
