package io.durablemq.broker.config;

import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.CommitPipelineDepth;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BrokerConfigTest {

    @TempDir
    Path dir;

    private Path write(String name, String... lines) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, List.of(lines));
        return f;
    }

    private String loadError(String... lines) throws IOException {
        Path f = write("broker.conf", lines);
        return assertThrows(BrokerConfigException.class, () -> BrokerConfig.load(f)).getMessage();
    }

    private String file() {
        return dir.resolve("broker.conf").toAbsolutePath().normalize().toString();
    }

    @Test
    void defaultsAreSecureAndDocumented() {
        BrokerConfig c = BrokerConfig.defaults();
        assertEquals("127.0.0.1", c.host());
        assertEquals(1883, c.port());
        assertEquals(-1, c.sslPort());
        assertEquals(-1, c.websocketPort());
        assertEquals(-1, c.secureWebsocketPort());
        assertEquals("/mqtt", c.websocketPath());
        assertEquals(Path.of("data"), c.dataPath());
        assertEquals(Durability.FSYNC, c.durability());
        assertEquals("127.0.0.1", c.metricsHost());
        assertEquals(9400, c.metricsPort());
        assertTrue(c.allowAnonymous());
        assertNull(c.passwordFile());
        assertNull(c.aclFile());
        assertNull(c.tls());
        assertTrue(c.interceptHandlers().isEmpty());
        assertTrue(c.loopbackOnly());
        assertNotNull(c.loopbackHint());
        assertTrue(c.loopbackHint().contains("host 0.0.0.0"), c.loopbackHint());

        Limits l = c.limits();
        assertEquals(10_000, l.maxConnections());
        assertEquals(1024 * 1024, l.maxPacketSize());
        assertEquals(1_000, l.maxInflight());
        assertEquals(1_000_000, l.maxQueuedMessages());
        assertEquals(512L * 1024 * 1024, l.maxQueuedBytes());
        assertEquals(OverflowPolicy.REJECT, l.overflowPolicy());
        assertEquals(Duration.ofSeconds(10), l.connectTimeout());
        assertEquals(256, l.maxClientIdLength());
        assertEquals(65_535, l.maxTopicLength());
        assertEquals(128, l.maxTopicLevels());
        assertEquals(1_000, l.maxSubscriptionsPerClient());
        assertEquals(0xFFFF_FFFFL, l.maxSessionExpirySeconds());
        assertEquals(1_000, l.receiveMaximum());
        assertEquals(65_535, l.maxKeepAliveSeconds());
        assertEquals(64, l.topicAliasMaximum());
        assertEquals(32, l.maxOutboundTopicAliases());
    }

    @Test
    void engineConfigCarriesTheEngineSettings() {
        BrokerConfig c = BrokerConfig.defaults().toBuilder().dataPath(dir).durability(Durability.OS)
                .limits(Limits.defaults().toBuilder().maxInflight(77).maxQueuedMessages(500).maxQueuedBytes(4096)
                        .overflowPolicy(OverflowPolicy.DROP_OLDEST).maxSessionExpirySeconds(3600).build())
                .commitBatchesInFlight(9)
                .build();
        EngineConfig e = c.toEngineConfig();
        assertEquals(9, e.commitBatchesInFlight());
        assertEquals(dir, e.dataPath());
        assertEquals(Durability.OS, e.durability());
        assertEquals(77, e.maxInflightPerSession());
        assertEquals(500, e.maxQueuedMessagesPerSession());
        assertEquals(4096, e.maxQueuedBytesPerSession());
        assertEquals(OverflowPolicy.DROP_OLDEST, e.overflowPolicy());
        assertEquals(3600, e.maxSessionExpirySeconds());
        EngineConfig d = EngineConfig.defaults(dir);
        assertEquals(d.expirySweepInterval(), e.expirySweepInterval());
        assertEquals(d.bodyCacheBytes(), e.bodyCacheBytes());
    }

    @Test
    void readsEveryKeyAndResolvesPathsAgainstTheConfigFolder() throws Exception {
        Files.createDirectories(dir.resolve("etc"));
        Files.writeString(dir.resolve("etc/passwd"), "");
        Files.writeString(dir.resolve("etc/acl"), "");
        Files.writeString(dir.resolve("etc/server.p12"), "x");
        Files.writeString(dir.resolve("etc/ca.p12"), "x");
        Path f = write("broker.conf",
                "# a Moquette-style file",
                "   # indented comment",
                "",
                "port 1884",
                "host\t0.0.0.0",
                "ssl_port 8883",
                "websocket_port 8080",
                "secure_websocket_port 8443",
                "websocket_path /ws",
                "password_file etc/passwd",
                "acl_file etc/acl",
                "allow_anonymous false",
                "authenticator_class com.example.Auth",
                "authorizator_class com.example.Authz",
                "intercept.handler com.example.A, com.example.B ,",
                "data_path store",
                "jks_path etc/server.p12",
                "key_store_type PKCS12",
                "key_store_password secret1",
                "key_manager_password secret2",
                "need_client_auth true",
                "trust_store_path etc/ca.p12",
                "trust_store_password secret3",
                "netty.mqtt.message_size 8092",
                "durability os",
                "metrics_endpoint_port 9500",
                "metrics_host 127.0.0.2",
                "max_connections 50",
                "max_inflight 20",
                "max_queued_messages 3000",
                "max_queued_bytes 16m",
                "queue_overflow_policy drop-oldest",
                "connect_timeout_seconds 5",
                "max_client_id_length 64",
                "max_topic_length 1024",
                "max_topic_levels 16",
                "max_subscriptions_per_client 10",
                "max_session_expiry_seconds 86400",
                "receive_maximum 100",
                "topic_alias_maximum 0",
                "max_outbound_topic_aliases 0",
                "max_keep_alive_seconds 600",
                "commit_batches_in_flight 2",
                "persistence_enabled true",
                "netty.epoll true",
                "plugin.my_setting 42");
        BrokerConfig c = BrokerConfig.load(f);
        Path base = dir.toAbsolutePath().normalize();
        assertEquals("0.0.0.0", c.host());
        assertFalse(c.loopbackOnly());
        assertNull(c.loopbackHint());
        assertEquals(1884, c.port());
        assertEquals(8883, c.sslPort());
        assertEquals(8080, c.websocketPort());
        assertEquals(8443, c.secureWebsocketPort());
        assertEquals("/ws", c.websocketPath());
        assertEquals(base.resolve("etc/passwd"), c.passwordFile());
        assertEquals(base.resolve("etc/acl"), c.aclFile());
        assertFalse(c.allowAnonymous());
        assertEquals("com.example.Auth", c.authenticatorClass());
        assertEquals("com.example.Authz", c.authorizatorClass());
        assertEquals(List.of("com.example.A", "com.example.B"), c.interceptHandlers());
        assertEquals(base.resolve("store"), c.dataPath());
        assertEquals(base.resolve("etc/server.p12"), c.tls().keyStore());
        assertEquals("pkcs12", c.tls().keyStoreType());
        assertEquals("secret1", c.tls().keyStorePassword());
        assertEquals("secret2", c.tls().keyManagerPassword());
        assertTrue(c.tls().needClientAuth());
        assertEquals(base.resolve("etc/ca.p12"), c.tls().effectiveTrustStore());
        assertEquals("secret3", c.tls().effectiveTrustStorePassword());
        assertEquals(Durability.OS, c.durability());
        assertEquals(9500, c.metricsPort());
        assertEquals("127.0.0.2", c.metricsHost());
        Limits l = c.limits();
        assertEquals(8092, l.maxPacketSize());
        assertEquals(50, l.maxConnections());
        assertEquals(20, l.maxInflight());
        assertEquals(3000, l.maxQueuedMessages());
        assertEquals(16L * 1024 * 1024, l.maxQueuedBytes());
        assertEquals(OverflowPolicy.DROP_OLDEST, l.overflowPolicy());
        assertEquals(Duration.ofSeconds(5), l.connectTimeout());
        assertEquals(64, l.maxClientIdLength());
        assertEquals(1024, l.maxTopicLength());
        assertEquals(16, l.maxTopicLevels());
        assertEquals(10, l.maxSubscriptionsPerClient());
        assertEquals(86400, l.maxSessionExpirySeconds());
        assertEquals(100, l.receiveMaximum());
        assertEquals(0, l.topicAliasMaximum());
        assertEquals(0, l.maxOutboundTopicAliases());
        assertEquals(600, l.maxKeepAliveSeconds());
        assertEquals(2, c.commitBatchesInFlight());
        assertEquals(f.toAbsolutePath().normalize(), c.configFile());
        // plugins see the file's own text through Moquette's IConfig
        assertEquals("42", c.toMoquetteConfig().getProperty("plugin.my_setting"));
        assertEquals("etc/passwd", c.toMoquetteConfig().getProperty("password_file"));
        // secrets never reach a log line through toString
        assertFalse(c.toString().contains("secret"), c.toString());
    }

    @Test
    void emptyFileGivesTheDefaultsAndMetricsFollowTheHost() throws Exception {
        BrokerConfig c = BrokerConfig.load(write("empty.conf", "# nothing"));
        BrokerConfig d = BrokerConfig.defaults();
        assertEquals(d.host(), c.host());
        assertEquals(d.port(), c.port());
        // an unset data_path is the default "data" of the working directory, not of the config folder
        assertEquals(Path.of("data"), c.dataPath());
        assertEquals(d.limits(), c.limits());

        BrokerConfig open = BrokerConfig.load(write("open.conf", "host 0.0.0.0"));
        assertEquals("0.0.0.0", open.metricsHost());
    }

    @Test
    void disabledPortsAndSizeSuffixes() throws Exception {
        BrokerConfig c = BrokerConfig.load(write("p.conf", "port disabled", "websocket_port 0",
                "max_queued_bytes 2G", "netty.mqtt.message_size 64kb", "metrics_endpoint_port 0"));
        assertEquals(-1, c.port());
        assertEquals(0, c.websocketPort());
        assertEquals(2L * 1024 * 1024 * 1024, c.limits().maxQueuedBytes());
        assertEquals(64 * 1024, c.limits().maxPacketSize());
        assertEquals(0, c.metricsPort());
    }

    @Test
    void missingFile() {
        Path missing = dir.resolve("nope.conf");
        String msg = assertThrows(BrokerConfigException.class, () -> BrokerConfig.load(missing)).getMessage();
        assertEquals(missing.toAbsolutePath().normalize() + ": config file not found", msg);
    }

    @Test
    void notANumber() throws Exception {
        assertEquals(file() + ":2: port: 'abc' is not a whole number", loadError("# x", "port abc"));
        assertEquals(file() + ":1: max_outbound_topic_aliases: 'ten' is not a whole number",
                loadError("max_outbound_topic_aliases ten"));
    }

    @Test
    void outOfRange() throws Exception {
        assertEquals(file() + ":1: port: 70000 is out of range (-1..65535)", loadError("port 70000"));
        assertEquals(file() + ":1: max_inflight: 0 is out of range (1..65535)", loadError("max_inflight 0"));
        assertEquals(file() + ":1: max_client_id_length: 5 is out of range (23..65535)",
                loadError("max_client_id_length 5"));
        assertEquals(file() + ":1: max_session_expiry_seconds: 4294967296 is out of range (0..4294967295)",
                loadError("max_session_expiry_seconds 4294967296"));
        assertEquals(file() + ":1: max_outbound_topic_aliases: 65536 is out of range (0..65535)",
                loadError("max_outbound_topic_aliases 65536"));
        assertEquals(file() + ":1: max_outbound_topic_aliases: -1 is out of range (0..65535)",
                loadError("max_outbound_topic_aliases -1"));
        assertEquals(file() + ":1: commit_batches_in_flight: 65 is out of range (1..64)",
                loadError("commit_batches_in_flight 65"));
        assertEquals(file() + ":1: commit_batches_in_flight: 0 is out of range (1..64)",
                loadError("commit_batches_in_flight 0"));
        assertEquals(file() + ":1: engine_partitions: 65 is out of range (1..64)", loadError("engine_partitions 65"));
        assertEquals(file() + ":1: engine_partitions: 0 is out of range (1..64)", loadError("engine_partitions 0"));
        assertEquals(file() + ":1: io_threads: 0 is out of range (1..1024)", loadError("io_threads 0"));
        assertEquals(file() + ":1: io_threads: 1025 is out of range (1..1024)", loadError("io_threads 1025"));
    }

    /** A cluster node cuts fewer, larger Raft entries by default (docs/CLUSTER.md "Entry size and CPU per message (s22)"). */
    @Test
    void aClusterNodeHasItsOwnDefaultPipelineDepthAndTheFileStillWins() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty(CommitPipelineDepth.PROPERTY) == null,
                "the JVM option would set the default for both");
        assertEquals(4, BrokerConfig.load(write("single.conf", "port 1884")).commitBatchesInFlight(), "single node");
        assertEquals(io.durablemq.cluster.ClusterSettings.DEFAULT_COMMIT_BATCHES_IN_FLIGHT,
                BrokerConfig.load(write("node.conf", "port 1884", "cluster_node_id n1")).commitBatchesInFlight(), "cluster node");
        assertEquals(2, io.durablemq.cluster.ClusterSettings.DEFAULT_COMMIT_BATCHES_IN_FLIGHT);
        assertEquals(3, BrokerConfig.load(write("node3.conf", "port 1884", "cluster_node_id n1", "commit_batches_in_flight 3"))
                .commitBatchesInFlight(), "the file's value");
    }

    @Test
    void enginePartitionsDefaultToOneAndReachTheEngine() throws Exception {
        assertEquals(1, BrokerConfig.defaults().enginePartitions());
        assertEquals(1, BrokerConfig.defaults().toEngineConfig().partitions());
        assertEquals(4, BrokerConfig.defaults().toBuilder().enginePartitions(4).build().toEngineConfig().partitions());
        assertThrows(IllegalArgumentException.class, () -> BrokerConfig.defaults().toBuilder().enginePartitions(65).build());
    }

    /** 0 (Netty's default count) unless io_threads says otherwise (RESULTS.md, "Event loops per core (s30)"). */
    @Test
    void ioThreadsDefaultToNettysCountAndTheFileSetsThem() throws Exception {
        assertEquals(0, BrokerConfig.defaults().ioThreads());
        assertEquals(0, BrokerConfig.load(write("none.conf", "port 1884")).ioThreads());
        BrokerConfig three = BrokerConfig.load(write("three.conf", "port 1884", "io_threads 3"));
        assertEquals(3, three.ioThreads());
        assertEquals(3, three.toBuilder().port(1885).build().ioThreads(), "the builder keeps it");
        assertEquals(1, BrokerConfig.defaults().toBuilder().ioThreads(1).build().ioThreads());
        assertThrows(IllegalArgumentException.class, () -> BrokerConfig.defaults().toBuilder().ioThreads(-1).build());
    }

    @Test
    void backpressureWatermarks() throws Exception {
        assertEquals(BackpressureLimits.DEFAULTS, BrokerConfig.defaults().limits().backpressure());
        BackpressureLimits set = BrokerConfig.load(write("broker.conf", "backpressure_high_watermark 200",
                "backpressure_max_pause_ms 250")).limits().backpressure();
        assertEquals(new BackpressureLimits(200, 100, java.time.Duration.ofMillis(250)), set,
                "an unset low watermark follows a configured high one");
        BackpressureLimits off = BrokerConfig.load(write("broker.conf", "backpressure_high_watermark 0"))
                .limits().backpressure();
        assertFalse(off.enabled());
        assertEquals(file() + ":2: backpressure_low_watermark: must be below backpressure_high_watermark (100): 100",
                loadError("backpressure_high_watermark 100", "backpressure_low_watermark 100"));
        assertEquals(file() + ":1: backpressure_max_pause_ms: 0 is out of range (1..3600000)",
                loadError("backpressure_max_pause_ms 0"));
    }

    @Test
    void unknownKeyIsATypoError() throws Exception {
        assertEquals(file() + ":3: unknown key 'prot' (did you mean 'port'?); plugin settings must start with 'plugin.'",
                loadError("host 127.0.0.1", "", "prot 1883"));
        assertEquals(file() + ":1: unknown key 'frobnicate'; plugin settings must start with 'plugin.'",
                loadError("frobnicate yes"));
    }

    @Test
    void badChoices() throws Exception {
        assertEquals(file() + ":1: durability: unknown durability 'sometimes': use fsync or os",
                loadError("durability sometimes"));
        assertEquals(file() + ":1: queue_overflow_policy: unknown overflow policy 'drop': use reject, drop_new or "
                + "drop_oldest", loadError("queue_overflow_policy drop"));
        assertEquals(file() + ":1: allow_anonymous: 'yes' is not true or false", loadError("allow_anonymous yes"));
        assertEquals(file() + ":1: max_queued_bytes: '12x' is not a size (bytes, or a number with k, m or g)",
                loadError("max_queued_bytes 12x"));
        assertEquals(file() + ":1: websocket_path: 'mqtt' must start with '/'", loadError("websocket_path mqtt"));
    }

    @Test
    void referencedFilesMustExist() throws Exception {
        Path abs = dir.toAbsolutePath().normalize();
        assertEquals(file() + ":1: password_file: file not found: " + abs.resolve("users.txt"),
                loadError("password_file users.txt"));
        assertEquals(file() + ":1: acl_file: file not found: " + abs.resolve("acl.txt"), loadError("acl_file acl.txt"));
        Files.createDirectories(dir.resolve("folder"));
        assertEquals(file() + ":1: acl_file: not a readable file: " + abs.resolve("folder"), loadError("acl_file folder"));
    }

    @Test
    void malformedLines() throws Exception {
        assertEquals(file() + ":1: port: has no value", loadError("port"));
        assertEquals(file() + ":4: port: is set twice (lines 1 and 4)", loadError("port 1", "", "#", "port 2"));
    }

    @Test
    void tlsKeysNeedAKeyStore() throws Exception {
        assertEquals(file() + ":1: ssl_port: needs jks_path (the server key store) to be set", loadError("ssl_port 8883"));
        assertEquals(file() + ":1: need_client_auth: needs jks_path (the server key store) to be set",
                loadError("need_client_auth true"));
        Files.writeString(dir.resolve("ks.jks"), "x");
        assertEquals(file() + ":2: jks_path: key_store_password is missing",
                loadError("ssl_port 8883", "jks_path ks.jks"));
        assertEquals(file() + ":3: key_store_type: 'pem' is not a key store type: use jks or pkcs12",
                loadError("jks_path ks.jks", "key_store_password x", "key_store_type pem"));
        // a disabled TLS port needs no key store
        assertEquals(-1, BrokerConfig.load(write("ok.conf", "ssl_port disabled")).sslPort());
    }

    @Test
    void portClash() throws Exception {
        assertEquals(file() + ":2: metrics_endpoint_port: port 1883 is already used by port",
                loadError("port 1883", "metrics_endpoint_port 1883"));
        assertEquals(1883, BrokerConfig.load(write("ok.conf", "port 1883", "metrics_endpoint_port 1883",
                "metrics_host 127.0.0.2")).metricsPort(), "a different address may reuse the number");
    }

    @Test
    void ignoredMoquetteKeysAreAccepted() throws Exception {
        BrokerConfig c = BrokerConfig.load(write("m.conf", "persistent_store ./moquette_store.h2",
                "immediate_buffer_flush true", "buffer_flush_millis 10", "telemetry_enabled false",
                "netty.epoll false", "persistence_enabled true", "authenticator.db.url jdbc:x"));
        assertEquals(1883, c.port());
        assertEquals("jdbc:x", c.toMoquetteConfig().getProperty("authenticator.db.url"));
        // plugins see DurableMQ's effective host, not Moquette's default 0.0.0.0
        assertEquals("127.0.0.1", c.toMoquetteConfig().getProperty("host"));
    }

    @Test
    void builderKeepsEverythingElse() {
        BrokerConfig d = BrokerConfig.defaults();
        BrokerConfig c = d.toBuilder().port(0).metricsPort(0).build();
        assertEquals(0, c.port());
        assertEquals(0, c.metricsPort());
        assertEquals(d.host(), c.host());
        assertEquals(d.limits(), c.limits());
        assertEquals("10.0.0.1", d.toBuilder().host("10.0.0.1").build().metricsHost());
        assertThrows(IllegalArgumentException.class, () -> d.toBuilder().sslPort(8883).build());
        assertThrows(IllegalArgumentException.class, () -> Limits.defaults().toBuilder().maxInflight(0).build());
    }
}
