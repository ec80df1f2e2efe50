package io.durablemq.broker.config;

import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.guard.AdmissionSettings;
import io.durablemq.engine.store.CommitPipelineDepth;
import io.durablemq.engine.store.Durability;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads Moquette's config format: one {@code key value} per line (key and value separated by
 * the first run of blanks), lines whose first non-blank character is {@code #} are comments.
 * Unlike Moquette's own {@code ResourceLoaderConfig}, which falls back on defaults when the
 * file is missing or malformed and fills in {@code host 0.0.0.0}, every problem here is an
 * error that names the file, the line and the key.
 */
final class ConfigFileReader {

    private static final Logger LOG = LoggerFactory.getLogger(ConfigFileReader.class);

    /** Keys this reader understands (Moquette's and DurableMQ's own). */
    static final Set<String> KNOWN_KEYS = Set.of(
            // Moquette keys DurableMQ honours
            "port", "host", "ssl_port", "websocket_port", "secure_websocket_port", "websocket_path",
            "password_file", "acl_file", "allow_anonymous", "authenticator_class", "authorizator_class",
            "intercept.handler", "data_path", "jks_path", "key_store_type", "key_store_password",
            "key_manager_password", "need_client_auth", "netty.mqtt.message_size",
            // DurableMQ keys
            "durability", "metrics_endpoint_port", "metrics_host", "max_connections", "max_inflight",
            "max_queued_messages", "max_queued_bytes", "queue_overflow_policy", "connect_timeout_seconds",
            "max_client_id_length", "max_topic_length", "max_topic_levels", "max_subscriptions_per_client",
            "max_session_expiry_seconds", "receive_maximum", "topic_alias_maximum", "max_keep_alive_seconds",
            "max_outbound_topic_aliases", "backpressure_high_watermark", "backpressure_low_watermark",
            "backpressure_max_pause_ms",
            "trust_store_path", "trust_store_password", "backup_dir", "max_total_queued_bytes",
            "heap_guard_fraction", "commit_batches_in_flight", "engine_partitions", "io_threads",
            // cluster keys: read by io.durablemq.broker.cluster.ClusterConfig (docs/CLUSTER.md)
            "cluster_node_id", "cluster_peers", "cluster_mqtt_addresses", "cluster_storage_path",
            "cluster_election_timeout_ms", "cluster_election_timeout_max_ms", "cluster_snapshot_every_entries",
            "cluster_log_preserved_entries", "cluster_mqtt_tls_addresses", "cluster_mqtt_websocket_addresses", "cluster_mqtt_secure_websocket_addresses");

    /** Moquette keys with no meaning in DurableMQ, and why; logged, never an error. */
    static final Map<String, String> IGNORED_MOQUETTE_KEYS = Map.ofEntries(
            Map.entry("persistent_store", "the engine always stores under data_path"),
            Map.entry("persistence_enabled", "the engine always persists"),
            Map.entry("persistent_queue_type", "the engine keeps its own queues"),
            Map.entry("queue_page_size", "the engine keeps its own queues"),
            Map.entry("queue_segment_size", "the engine keeps its own queues"),
            Map.entry("autosave_interval", "every acknowledged message is already committed"),
            Map.entry("immediate_buffer_flush", "acks are flushed as soon as the engine commits"),
            Map.entry("buffer_flush_millis", "acks are flushed as soon as the engine commits"),
            Map.entry("storage_class", "the engine's RocksDB store is the only storage"),
            Map.entry("session_queue_size", "use max_queued_messages / max_queued_bytes"),
            Map.entry("persistent_client_expiration", "use max_session_expiry_seconds"),
            Map.entry("intercept.thread_pool.size", "each interceptor has its own ordered queue"),
            Map.entry("ssl_provider", "the JDK TLS provider is always used"),
            Map.entry("netty.epoll", "the NIO transport is always used"),
            Map.entry("netty.so_backlog", "the listener uses Netty's default backlog"),
            Map.entry("netty.so_reuseaddr", "SO_REUSEADDR is always on"),
            Map.entry("netty.tcp_nodelay", "TCP_NODELAY is always on"),
            Map.entry("netty.so_keepalive", "MQTT keep-alive is enforced instead"),
            Map.entry("netty.channel_timeout.seconds", "use connect_timeout_seconds"),
            Map.entry("websocket_max_frame_size", "netty.mqtt.message_size bounds WebSocket messages too"),
            Map.entry("allow_zero_byte_client_id", "an empty client id follows the MQTT spec (server-assigned id)"),
            Map.entry("reauthorize_subscriptions_on_connect", "subscriptions are authorized when made"),
            Map.entry("use_metrics", "metrics are served on metrics_endpoint_port"),
            Map.entry("metrics.librato.email", "metrics are served on metrics_endpoint_port"),
            Map.entry("metrics.librato.token", "metrics are served on metrics_endpoint_port"),
            Map.entry("metrics.librato.source", "metrics are served on metrics_endpoint_port"),
            Map.entry("telemetry_enabled", "DurableMQ sends no telemetry"),
            Map.entry("use_bugsnag", "DurableMQ sends no error reports"),
            Map.entry("bugsnag.token", "DurableMQ sends no error reports"));

    /** Prefixes of keys read by plugins through IConfig; passed through unchecked. */
    static final List<String> PLUGIN_PREFIXES = List.of("plugin.", "authenticator.db.");

    private record Entry(String key, String value, int line) { }

    private final Path file;
    private final Path folder;
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    ConfigFileReader(Path file) {
        this.file = file.toAbsolutePath().normalize();
        this.folder = this.file.getParent();
    }

    BrokerConfig read() throws BrokerConfigException {
        parseLines();
        BrokerConfig d = BrokerConfig.defaults();

        String host = string("host", d.host());
        if (!entries.containsKey("host")) {
            LOG.info("{}: host not set, MQTT listeners bind to {} (loopback only); set 'host 0.0.0.0' "
                    + "to accept remote clients (with a password_file, or 'allow_anonymous true')", file, host);
        }
        int port = port("port", d.port());
        int sslPort = port("ssl_port", BrokerConfig.DISABLED);
        int wsPort = port("websocket_port", BrokerConfig.DISABLED);
        int wssPort = port("secure_websocket_port", BrokerConfig.DISABLED);
        String wsPath = string("websocket_path", d.websocketPath());
        if (!wsPath.startsWith("/")) {
            throw error("websocket_path", "'" + wsPath + "' must start with '/'");
        }
        Path dataPath = path("data_path", d.dataPath(), false);
        Durability durability = choice("durability", d.durability(), Durability::parse);
        Path backupDir = path("backup_dir", null, false);
        if (backupDir != null && BrokerConfig.isInside(backupDir, dataPath)) {
            throw error("backup_dir", backupDir + " is inside data_path " + dataPath.toAbsolutePath()
                    + "; backups must live outside the live store (default: " + BrokerConfig.defaultBackupDir(dataPath) + ")");
        }
        String metricsHost = string("metrics_host", host);
        int metricsPort = (int) number("metrics_endpoint_port", d.metricsPort(), 0, 65_535);
        AnonymousAccess anonymous = entries.containsKey("allow_anonymous")
                ? AnonymousAccess.of(bool("allow_anonymous", true)) : d.anonymous();
        Path passwordFile = path("password_file", null, true);
        Path aclFile = path("acl_file", null, true);
        String authenticatorClass = string("authenticator_class", null);
        String authorizatorClass = string("authorizator_class", null);
        List<String> interceptHandlers = list("intercept.handler");
        TlsSettings tls = tls(sslPort, wssPort);
        Limits limits = limits(d.limits());
        // The metrics endpoint may share a port number with a listener on another address.
        checkPortClashes(port, sslPort, wsPort, wssPort, metricsHost.equals(host) ? metricsPort : 0);

        if (anonymous == AnonymousAccess.REFUSED && passwordFile == null && authenticatorClass == null) {
            LOG.warn("{}: allow_anonymous is false and neither password_file nor authenticator_class is set: "
                    + "every client will be refused", file);
        }
        Map<String, String> properties = new LinkedHashMap<>();
        entries.values().forEach(e -> properties.put(e.key(), e.value()));
        try {
            return new BrokerConfig(host, port, sslPort, wsPort, wsPath, wssPort, dataPath, durability, metricsHost,
                    metricsPort, anonymous, passwordFile, aclFile, authenticatorClass, authorizatorClass,
                    interceptHandlers, tls, limits, properties, file, backupDir, admission(),
                    (int) number("commit_batches_in_flight", defaultBatchesInFlight(), 1, CommitPipelineDepth.MAX),
                    (int) number("engine_partitions", 1, 1, BrokerConfig.MAX_ENGINE_PARTITIONS),
                    (int) number("io_threads", 0, 1, BrokerConfig.MAX_IO_THREADS));
        } catch (IllegalArgumentException e) {
            throw new BrokerConfigException(file + ": " + e.getMessage(), e);
        }
    }

    private void parseLines() throws BrokerConfigException {
        if (!Files.exists(file)) {
            throw new BrokerConfigException(file + ": config file not found");
        }
        if (!Files.isRegularFile(file)) {
            throw new BrokerConfigException(file + ": is not a regular file");
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new BrokerConfigException(file + ": is not UTF-8 text", e);
        } catch (IOException e) {
            throw new BrokerConfigException(file + ": cannot be read: " + e, e);
        }
        for (int i = 0; i < lines.size(); i++) {
            int lineNo = i + 1;
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int blank = firstBlank(line);
            String key = blank < 0 ? line : line.substring(0, blank);
            String value = blank < 0 ? "" : line.substring(blank).strip();
            if (value.isEmpty()) {
                throw new BrokerConfigException(file + ":" + lineNo + ": " + key + ": has no value");
            }
            Entry earlier = entries.get(key);
            if (earlier != null) {
                throw new BrokerConfigException(file + ":" + lineNo + ": " + key + ": is set twice (lines "
                        + earlier.line() + " and " + lineNo + ")");
            }
            checkKnown(key, lineNo);
            entries.put(key, new Entry(key, value, lineNo));
        }
    }

    private static int firstBlank(String line) {
        for (int i = 0; i < line.length(); i++) {
            if (Character.isWhitespace(line.charAt(i))) {
                return i;
            }
        }
        return -1;
    }

    private void checkKnown(String key, int lineNo) throws BrokerConfigException {
        if (KNOWN_KEYS.contains(key) || PLUGIN_PREFIXES.stream().anyMatch(key::startsWith)) {
            return;
        }
        String why = IGNORED_MOQUETTE_KEYS.get(key);
        if (why != null) {
            LOG.warn("{}:{}: Moquette key '{}' is not used by DurableMQ and is ignored: {}", file, lineNo, key, why);
            return;
        }
        String hint = closestKnownKey(key);
        throw new BrokerConfigException(file + ":" + lineNo + ": unknown key '" + key + "'"
                + (hint == null ? "" : " (did you mean '" + hint + "'?)")
                + "; plugin settings must start with 'plugin.'");
    }

    private static String closestKnownKey(String key) {
        String best = null;
        int bestDistance = 3;
        for (String known : KNOWN_KEYS) {
            int d = editDistance(key, known);
            if (d < bestDistance) {
                bestDistance = d;
                best = known;
            }
        }
        return best;
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    private BrokerConfigException error(String key, String problem) {
        Entry e = entries.get(key);
        return new BrokerConfigException(file + (e == null ? "" : ":" + e.line()) + ": " + key + ": " + problem);
    }

    private String string(String key, String defaultValue) {
        Entry e = entries.get(key);
        return e == null ? defaultValue : e.value();
    }

    /**
     * {@code commit_batches_in_flight} when the file has none: the JVM option if set, else a cluster node's
     * own default (fewer, larger Raft entries: ClusterSettings) or the single node's.
     */
    private int defaultBatchesInFlight() {
        if (entries.containsKey("cluster_node_id") && System.getProperty(CommitPipelineDepth.PROPERTY) == null) {
            return io.durablemq.cluster.ClusterSettings.DEFAULT_COMMIT_BATCHES_IN_FLIGHT;
        }
        return CommitPipelineDepth.configured();
    }

    private long number(String key, long defaultValue, long min, long max) throws BrokerConfigException {
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        long v;
        try {
            v = Long.parseLong(e.value());
        } catch (NumberFormatException nfe) {
            throw error(key, "'" + e.value() + "' is not a whole number");
        }
        return inRange(key, v, min, max);
    }

    private long inRange(String key, long v, long min, long max) throws BrokerConfigException {
        if (v < min || v > max) {
            throw error(key, v + " is out of range (" + min + ".." + max + ")");
        }
        return v;
    }

    /** A byte count, optionally with a 1024-based suffix: k, m, g (also kb/kib, mb/mib, gb/gib). */
    private long size(String key, long defaultValue, long min, long max) throws BrokerConfigException {
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        String text = e.value().toLowerCase(Locale.ROOT);
        int digits = 0;
        while (digits < text.length() && Character.isDigit(text.charAt(digits))) {
            digits++;
        }
        String suffix = text.substring(digits).strip();
        long multiplier = switch (suffix) {
            case "", "b" -> 1L;
            case "k", "kb", "kib" -> 1024L;
            case "m", "mb", "mib" -> 1024L * 1024;
            case "g", "gb", "gib" -> 1024L * 1024 * 1024;
            default -> -1L;
        };
        if (digits == 0 || multiplier < 0) {
            throw error(key, "'" + e.value() + "' is not a size (bytes, or a number with k, m or g)");
        }
        long v;
        try {
            v = Math.multiplyExact(Long.parseLong(text.substring(0, digits)), multiplier);
        } catch (ArithmeticException | NumberFormatException overflow) {
            throw error(key, "'" + e.value() + "' is too large");
        }
        return inRange(key, v, min, max);
    }

    /** {@code max_total_queued_bytes} (a size, {@code auto}, {@code unlimited}) and {@code heap_guard_fraction} (0..1 or {@code off}). */
    private AdmissionSettings admission() throws BrokerConfigException {
        AdmissionSettings d = AdmissionSettings.defaults();
        long budget = d.maxTotalQueuedBytes();
        Entry b = entries.get("max_total_queued_bytes");
        if (b != null) {
            String v = b.value().strip().toLowerCase(Locale.ROOT);
            if (v.equals("auto")) {
                budget = AdmissionSettings.AUTO;
            } else if (v.equals("unlimited")) {
                budget = AdmissionSettings.UNLIMITED;
            } else {
                budget = size("max_total_queued_bytes", 0, 0, Long.MAX_VALUE);
                if (budget == 0) {
                    throw error("max_total_queued_bytes", "0 would refuse every QoS 1/2 publish; use a size, auto (a"
                            + " quarter of the data folder's free disk at start) or unlimited");
                }
            }
        }
        double fraction = d.heapGuardFraction();
        Entry h = entries.get("heap_guard_fraction");
        if (h != null) {
            String v = h.value().strip().toLowerCase(Locale.ROOT);
            if (v.equals("off")) {
                fraction = AdmissionSettings.HEAP_GUARD_OFF;
            } else {
                try {
                    fraction = Double.parseDouble(v);
                } catch (NumberFormatException nfe) {
                    fraction = -1;
                }
                if (!(fraction > 0 && fraction <= 1)) {
                    throw error("heap_guard_fraction", "'" + h.value() + "' is not a fraction of the heap above 0 and"
                            + " at most 1 (e.g. 0.85), or off");
                }
            }
        }
        return new AdmissionSettings(budget, fraction);
    }

    private int port(String key, int defaultValue) throws BrokerConfigException {
        Entry e = entries.get(key);
        if (e != null && e.value().equalsIgnoreCase("disabled")) {
            return BrokerConfig.DISABLED;
        }
        return (int) number(key, defaultValue, -1, 65_535);
    }

    private boolean bool(String key, boolean defaultValue) throws BrokerConfigException {
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        return switch (e.value().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw error(key, "'" + e.value() + "' is not true or false");
        };
    }

    private <T> T choice(String key, T defaultValue, Function<String, T> parser) throws BrokerConfigException {
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        try {
            return parser.apply(e.value());
        } catch (IllegalArgumentException iae) {
            throw error(key, iae.getMessage());
        }
    }

    /** A path, relative ones resolved against the config file's folder; an input file must exist. */
    private Path path(String key, Path defaultValue, boolean mustBeReadableFile) throws BrokerConfigException {
        Entry e = entries.get(key);
        if (e == null) {
            return defaultValue;
        }
        Path p;
        try {
            p = folder.resolve(e.value()).normalize();
        } catch (java.nio.file.InvalidPathException ipe) {
            throw error(key, "'" + e.value() + "' is not a valid path");
        }
        if (mustBeReadableFile) {
            if (!Files.exists(p)) {
                throw error(key, "file not found: " + p);
            }
            if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
                throw error(key, "not a readable file: " + p);
            }
        }
        return p;
    }

    private List<String> list(String key) {
        Entry e = entries.get(key);
        List<String> out = new ArrayList<>();
        if (e != null) {
            for (String part : e.value().split(",")) {
                if (!part.isBlank()) {
                    out.add(part.strip());
                }
            }
        }
        return out;
    }

    private TlsSettings tls(int sslPort, int wssPort) throws BrokerConfigException {
        Path keyStore = path("jks_path", null, true);
        if (keyStore == null) {
            for (String k : List.of("ssl_port", "secure_websocket_port", "need_client_auth", "key_store_password",
                    "key_manager_password", "key_store_type", "trust_store_path", "trust_store_password")) {
                boolean portKey = k.endsWith("port");
                if (entries.containsKey(k) && (!portKey || (k.equals("ssl_port") ? sslPort : wssPort) >= 0)) {
                    throw error(k, "needs jks_path (the server key store) to be set");
                }
            }
            return null;
        }
        String type = choice("key_store_type", "jks", t -> {
            String v = t.toLowerCase(Locale.ROOT);
            if (!v.equals("jks") && !v.equals("pkcs12")) {
                throw new IllegalArgumentException("'" + t + "' is not a key store type: use jks or pkcs12");
            }
            return v;
        });
        String storePassword = string("key_store_password", null);
        if (storePassword == null) {
            throw error("jks_path", "key_store_password is missing");
        }
        String keyPassword = string("key_manager_password", storePassword);
        Path trustStore = path("trust_store_path", null, true);
        String trustPassword = string("trust_store_password", null);
        if (sslPort < 0 && wssPort < 0) {
            LOG.warn("{}: jks_path is set but neither ssl_port nor secure_websocket_port: no TLS listener", file);
        }
        return new TlsSettings(keyStore, type, storePassword, keyPassword, bool("need_client_auth", false),
                trustStore, trustPassword);
    }

    private Limits limits(Limits d) throws BrokerConfigException {
        int maxConnections = (int) number("max_connections", d.maxConnections(), 1, Integer.MAX_VALUE);
        int maxPacketSize = (int) size("netty.mqtt.message_size", d.maxPacketSize(), 16, Limits.MQTT_MAX_PACKET_SIZE);
        int maxInflight = (int) number("max_inflight", d.maxInflight(), 1, 65_535);
        long maxQueuedMessages = number("max_queued_messages", d.maxQueuedMessages(), 1, Long.MAX_VALUE);
        long maxQueuedBytes = size("max_queued_bytes", d.maxQueuedBytes(), 1, Long.MAX_VALUE);
        OverflowPolicy policy = choice("queue_overflow_policy", d.overflowPolicy(), OverflowPolicy::parse);
        Duration connectTimeout = Duration.ofSeconds(number("connect_timeout_seconds",
                d.connectTimeout().toSeconds(), 1, 3_600));
        int maxClientId = (int) number("max_client_id_length", d.maxClientIdLength(), 23, 65_535);
        int maxTopicLength = (int) number("max_topic_length", d.maxTopicLength(), 1, 65_535);
        int maxTopicLevels = (int) number("max_topic_levels", d.maxTopicLevels(), 1, 65_535);
        int maxSubs = (int) number("max_subscriptions_per_client", d.maxSubscriptionsPerClient(), 1,
                Integer.MAX_VALUE);
        long maxExpiry = number("max_session_expiry_seconds", d.maxSessionExpirySeconds(), 0, 0xFFFF_FFFFL);
        int receiveMaximum = (int) number("receive_maximum", d.receiveMaximum(), 1, 65_535);
        int maxKeepAlive = (int) number("max_keep_alive_seconds", d.maxKeepAliveSeconds(), 1, 65_535);
        int aliases = (int) number("topic_alias_maximum", d.topicAliasMaximum(), 0, 65_535);
        int outboundAliases = (int) number("max_outbound_topic_aliases", d.maxOutboundTopicAliases(), 0, 65_535);
        return new Limits(maxConnections, maxPacketSize, maxInflight, maxQueuedMessages, maxQueuedBytes, policy,
                connectTimeout, maxClientId, maxTopicLength, maxTopicLevels, maxSubs, maxExpiry, receiveMaximum,
                maxKeepAlive, aliases, outboundAliases, backpressure(d.backpressure()));
    }

    private BackpressureLimits backpressure(BackpressureLimits d) throws BrokerConfigException {
        int high = (int) number("backpressure_high_watermark", d.highWatermark(), 0, Integer.MAX_VALUE);
        // An unset low watermark follows a configured high one (half of it), so one key is enough.
        int defaultLow = high == d.highWatermark() ? d.lowWatermark() : high / 2;
        int low = (int) number("backpressure_low_watermark", defaultLow, 0, Integer.MAX_VALUE);
        long maxPauseMs = number("backpressure_max_pause_ms", d.maxPause().toMillis(), 1, 3_600_000);
        if (high > 0 && low >= high) {
            throw error("backpressure_low_watermark", "must be below backpressure_high_watermark (" + high + "): " + low);
        }
        return new BackpressureLimits(high, low, Duration.ofMillis(maxPauseMs));
    }

    private void checkPortClashes(int port, int sslPort, int wsPort, int wssPort, int metricsPort)
            throws BrokerConfigException {
        Map<Integer, String> used = new LinkedHashMap<>();
        String[] keys = {"port", "ssl_port", "websocket_port", "secure_websocket_port", "metrics_endpoint_port"};
        int[] ports = {port, sslPort, wsPort, wssPort, metricsPort};
        for (int i = 0; i < keys.length; i++) {
            if (ports[i] <= 0) {
                continue; // off, or "any free port"
            }
            String other = used.putIfAbsent(ports[i], keys[i]);
            if (other != null) {
                throw error(keys[i], "port " + ports[i] + " is already used by " + other);
            }
        }
    }
}
