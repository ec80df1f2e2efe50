package io.durablemq.broker.config;

import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.guard.AdmissionSettings;
import io.durablemq.engine.store.CommitPipelineDepth;
import io.durablemq.engine.store.Durability;
import io.moquette.broker.config.IConfig;
import io.moquette.broker.config.MemoryConfig;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

/**
 * Everything the broker process is told by its operator. Read from a Moquette-format file
 * ({@code key value} lines, {@code #} comment lines) by {@link #load(Path)}; see
 * mqtt-adapter/CONFIG.md for every key. Secure by default: loopback only, TLS off.
 *
 * @param host                listen address of the MQTT listeners ("127.0.0.1" by default)
 * @param port                plain TCP MQTT port; -1 = off, 0 = any free port
 * @param sslPort             MQTT over TLS port; -1 = off
 * @param websocketPort       MQTT over WebSocket port; -1 = off
 * @param websocketPath       HTTP path of the WebSocket endpoints
 * @param secureWebsocketPort MQTT over secure WebSocket port; -1 = off
 * @param dataPath            folder of the engine's store
 * @param durability          fsync or os, see the engine
 * @param metricsHost         listen address of the Prometheus endpoint
 * @param metricsPort         Prometheus endpoint port, 0 = disabled
 * @param anonymous           {@code allow_anonymous}: set true or false, or not set (then anonymous
 *                            clients are accepted only while every listener is loopback-only, and
 *                            a listener open to the network needs a login check: {@link AnonymousAccess})
 * @param passwordFile        Moquette-format password file, or null
 * @param aclFile             Moquette-format ACL file, or null (then everything is allowed)
 * @param authenticatorClass  a Moquette {@code IAuthenticator} implementation, or null
 * @param authorizatorClass   a Moquette {@code IAuthorizatorPolicy} implementation, or null
 * @param interceptHandlers   Moquette {@code InterceptHandler} class names, in order
 * @param tls                 key/trust stores for the TLS listeners, or null
 * @param limits              per-client and per-session bounds
 * @param properties          every key/value of the config file as written (relative paths
 *                            unresolved), handed to plugins through Moquette's {@link IConfig}
 * @param configFile          the file this was read from, or null
 * @param backupDir           where {@code POST /admin/backup} writes backups; null means the
 *                            default, a sibling of the data folder ({@code <data_path>-backups});
 *                            never inside the data folder
 * @param commitBatchesInFlight commit batches written (or submitted to the cluster's log) and not yet
 *                            completed, 1..64 ({@code commit_batches_in_flight}); its default is the JVM
 *                            option {@code -Ddurablemq.commit.batchesInFlight} if given, else 4
 * @param enginePartitions    the engine's partitions, 1..64 ({@code engine_partitions}, default 1: one
 *                            lock, the engine as before partitions; engine/README.md, "The partitioned engine")
 * @param ioThreads           Netty event loops serving client connections, 1..{@value #MAX_IO_THREADS}
 *                            ({@code io_threads}); 0, the default, is Netty's own default: two per core, or
 *                            {@code -Dio.netty.eventLoopThreads} when given. The count trades peak throughput
 *                            against latency at moderate rates (benchmarks/RESULTS.md, "Event loops per core (s30)")
 */
public record BrokerConfig(String host, int port, int sslPort, int websocketPort, String websocketPath,
                           int secureWebsocketPort, Path dataPath, Durability durability,
                           String metricsHost, int metricsPort, AnonymousAccess anonymous,
                           Path passwordFile, Path aclFile, String authenticatorClass,
                           String authorizatorClass, List<String> interceptHandlers, TlsSettings tls,
                           Limits limits, Map<String, String> properties, Path configFile,
                           Path backupDir, AdmissionSettings admission, int commitBatchesInFlight,
                           int enginePartitions, int ioThreads) {

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 1883;
    public static final int DEFAULT_METRICS_PORT = 9400;
    public static final String DEFAULT_WEBSOCKET_PATH = "/mqtt";
    public static final int DISABLED = -1;
    /** The engine's limit (a partition set is one 64-bit word). */
    public static final int MAX_ENGINE_PARTITIONS = 64;
    /** A bound on {@code io_threads} that only catches a typo: far more event loops than any machine's cores. */
    public static final int MAX_IO_THREADS = 1024;

    public BrokerConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(websocketPath, "websocketPath");
        Objects.requireNonNull(dataPath, "dataPath");
        Objects.requireNonNull(durability, "durability");
        Objects.requireNonNull(limits, "limits");
        Objects.requireNonNull(anonymous, "anonymous");
        metricsHost = metricsHost == null ? host : metricsHost;
        interceptHandlers = interceptHandlers == null ? List.of() : List.copyOf(interceptHandlers);
        properties = properties == null ? Map.of() : Map.copyOf(properties);
        backupDir = backupDir == null ? defaultBackupDir(dataPath) : backupDir;
        admission = admission == null ? AdmissionSettings.defaults() : admission;
        commitBatchesInFlight = CommitPipelineDepth.check(commitBatchesInFlight);
        if (enginePartitions < 1 || enginePartitions > MAX_ENGINE_PARTITIONS) {
            throw new IllegalArgumentException("engine_partitions must be 1.." + MAX_ENGINE_PARTITIONS + ": " + enginePartitions);
        }
        if (ioThreads < 0 || ioThreads > MAX_IO_THREADS) {
            throw new IllegalArgumentException("io_threads must be 1.." + MAX_IO_THREADS + " (or 0: Netty's default): " + ioThreads);
        }
        if (isInside(backupDir, dataPath)) {
            throw new IllegalArgumentException("backup_dir " + backupDir + " is inside data_path " + dataPath
                    + ": a backup must live outside the live store (default: " + defaultBackupDir(dataPath) + ")");
        }
        checkPort("port", port, DISABLED);
        checkPort("sslPort", sslPort, DISABLED);
        checkPort("websocketPort", websocketPort, DISABLED);
        checkPort("secureWebsocketPort", secureWebsocketPort, DISABLED);
        checkPort("metricsPort", metricsPort, 0);
        if ((sslPort != DISABLED || secureWebsocketPort != DISABLED) && tls == null) {
            throw new IllegalArgumentException("a TLS port is set but no key store (tls) is given");
        }
    }

    /** {@code <data_path>-backups}, next to the data folder (same file system, so SST files are hard-linked). */
    public static Path defaultBackupDir(Path dataPath) {
        Path data = dataPath.normalize();
        Path name = data.getFileName();
        return data.resolveSibling((name == null || name.toString().isEmpty() ? "data" : name) + "-backups");
    }

    /** True when {@code dir} is {@code folder} or lies under it (paths made absolute; symlinks are checked at backup time). */
    static boolean isInside(Path dir, Path folder) {
        return dir.toAbsolutePath().normalize().startsWith(folder.toAbsolutePath().normalize());
    }

    private static void checkPort(String name, int port, int min) {
        if (port < min || port > 65_535) {
            throw new IllegalArgumentException(name + " must be " + min + "..65535: " + port);
        }
    }

    /**
     * Settings with no config file: loopback only, port 1883, ./data, fsync, metrics on 9400,
     * anonymous clients accepted (they can only come from this machine).
     */
    public static BrokerConfig defaults() {
        return new BrokerConfig(DEFAULT_HOST, DEFAULT_PORT, DISABLED, DISABLED, DEFAULT_WEBSOCKET_PATH, DISABLED,
                Path.of("data"), Durability.FSYNC, null, DEFAULT_METRICS_PORT, AnonymousAccess.LOOPBACK_ONLY, null, null, null, null,
                List.of(), null, Limits.defaults(), Map.of(), null, null, null, CommitPipelineDepth.configured(), 1, 0);
    }

    /**
     * Reads a Moquette-format file. Relative paths in it resolve against the file's folder.
     * Unknown keys, bad values and missing referenced files are errors naming file, line and key;
     * Moquette keys DurableMQ has no use for are logged and ignored.
     */
    public static BrokerConfig load(Path file) throws BrokerConfigException {
        return new ConfigFileReader(file).read();
    }

    /** The engine's part of these settings. */
    public EngineConfig toEngineConfig() {
        EngineConfig d = EngineConfig.defaults(dataPath);
        return new EngineConfig(dataPath, durability, limits.maxInflight(), limits.maxQueuedMessages(),
                limits.maxQueuedBytes(), limits.overflowPolicy(), limits.maxSessionExpirySeconds(),
                d.expirySweepInterval(), d.bodyCacheBytes(), limits.maxSubscriptionsPerClient())
                .withAdmission(admission)
                .withCommitBatchesInFlight(commitBatchesInFlight)
                .withPartitions(enginePartitions);
    }

    /** The config file's keys as Moquette's {@link IConfig}, for plugins built with an (IConfig) constructor. */
    public IConfig toMoquetteConfig() {
        Properties p = new Properties();
        // Effective values first, so a plugin never sees Moquette's own defaults (e.g. host 0.0.0.0)
        // for settings DurableMQ answers differently; the file's own text wins where given.
        p.setProperty("host", host);
        p.setProperty("port", String.valueOf(port));
        p.setProperty("data_path", dataPath.toString());
        p.setProperty("allow_anonymous", String.valueOf(allowAnonymous()));
        p.putAll(properties);
        return new MemoryConfig(p);
    }

    /** Are CONNECTs without a user name accepted? ({@code allow_anonymous}, or its default for these listeners.) */
    public boolean allowAnonymous() {
        return anonymous.allows(loopbackOnly());
    }

    /** True when the MQTT listeners accept only local clients. */
    public boolean loopbackOnly() {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** The log line that tells an operator how to accept remote clients; null when not loopback-only. */
    public String loopbackHint() {
        return loopbackOnly()
                ? "MQTT listeners accept local clients only (host " + host + "); to accept remote clients set "
                  + "'host 0.0.0.0' (or an interface address) in the config file, with a password_file (or "
                  + "'allow_anonymous true' to accept anonymous clients from the network)"
                : null;
    }

    /** Never prints secrets: password-like keys of {@link #properties} are masked. */
    @Override
    public String toString() {
        StringBuilder shown = new StringBuilder();
        new java.util.TreeMap<>(properties).forEach((k, v) -> shown.append(shown.length() == 0 ? "" : ", ")
                .append(k).append('=').append(k.contains("password") ? "****" : v));
        return "BrokerConfig[host=" + host + ", port=" + port + ", sslPort=" + sslPort + ", websocketPort="
                + websocketPort + ", websocketPath=" + websocketPath + ", secureWebsocketPort=" + secureWebsocketPort
                + ", dataPath=" + dataPath + ", durability=" + durability + ", metricsHost=" + metricsHost
                + ", metricsPort=" + metricsPort + ", anonymous=" + anonymous + ", passwordFile="
                + passwordFile + ", aclFile=" + aclFile + ", authenticatorClass=" + authenticatorClass
                + ", authorizatorClass=" + authorizatorClass + ", interceptHandlers=" + interceptHandlers
                + ", tls=" + tls + ", limits=" + limits + ", configFile=" + configFile + ", backupDir=" + backupDir
                + ", properties={" + shown + "}]";
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Changes a few settings of an existing config (tests, embedding). */
    public static final class Builder {
        private String host;
        private int port;
        private int sslPort;
        private int websocketPort;
        private String websocketPath;
        private int secureWebsocketPort;
        private Path dataPath;
        private Durability durability;
        private String metricsHost;
        private int metricsPort;
        private AnonymousAccess anonymous;
        private Path passwordFile;
        private Path aclFile;
        private String authenticatorClass;
        private String authorizatorClass;
        private List<String> interceptHandlers;
        private TlsSettings tls;
        private Limits limits;
        private Map<String, String> properties;
        private Path configFile;
        private Path backupDir;
        private AdmissionSettings admission;
        private int commitBatchesInFlight;
        private int enginePartitions;
        private int ioThreads;

        private Builder(BrokerConfig c) {
            host = c.host;
            port = c.port;
            sslPort = c.sslPort;
            websocketPort = c.websocketPort;
            websocketPath = c.websocketPath;
            secureWebsocketPort = c.secureWebsocketPort;
            dataPath = c.dataPath;
            durability = c.durability;
            // Left null unless set, so a changed host moves the metrics endpoint with it.
            metricsHost = c.metricsHost.equals(c.host) ? null : c.metricsHost;
            metricsPort = c.metricsPort;
            anonymous = c.anonymous;
            passwordFile = c.passwordFile;
            aclFile = c.aclFile;
            authenticatorClass = c.authenticatorClass;
            authorizatorClass = c.authorizatorClass;
            interceptHandlers = c.interceptHandlers;
            tls = c.tls;
            limits = c.limits;
            properties = c.properties;
            configFile = c.configFile;
            // Left null while it is the default, so a changed data path moves it along.
            backupDir = c.backupDir.equals(defaultBackupDir(c.dataPath)) ? null : c.backupDir;
            admission = c.admission;
            commitBatchesInFlight = c.commitBatchesInFlight;
            enginePartitions = c.enginePartitions;
            ioThreads = c.ioThreads;
        }

        public Builder host(String v) { host = v; return this; }
        public Builder port(int v) { port = v; return this; }
        public Builder sslPort(int v) { sslPort = v; return this; }
        public Builder websocketPort(int v) { websocketPort = v; return this; }
        public Builder websocketPath(String v) { websocketPath = v; return this; }
        public Builder secureWebsocketPort(int v) { secureWebsocketPort = v; return this; }
        public Builder dataPath(Path v) { dataPath = v; return this; }
        public Builder durability(Durability v) { durability = v; return this; }
        public Builder metricsHost(String v) { metricsHost = v; return this; }
        public Builder metricsPort(int v) { metricsPort = v; return this; }
        /** Sets {@code allow_anonymous} explicitly (true: also on listeners open to the network). */
        public Builder allowAnonymous(boolean v) { anonymous = AnonymousAccess.of(v); return this; }
        public Builder anonymous(AnonymousAccess v) { anonymous = v; return this; }
        public Builder passwordFile(Path v) { passwordFile = v; return this; }
        public Builder aclFile(Path v) { aclFile = v; return this; }
        public Builder authenticatorClass(String v) { authenticatorClass = v; return this; }
        public Builder authorizatorClass(String v) { authorizatorClass = v; return this; }
        public Builder interceptHandlers(List<String> v) { interceptHandlers = v; return this; }
        public Builder tls(TlsSettings v) { tls = v; return this; }
        public Builder limits(Limits v) { limits = v; return this; }
        public Builder properties(Map<String, String> v) { properties = v; return this; }
        public Builder configFile(Path v) { configFile = v; return this; }
        public Builder backupDir(Path v) { backupDir = v; return this; }
        public Builder admission(AdmissionSettings v) { admission = v; return this; }
        /** {@code commit_batches_in_flight}: 1..64. */
        public Builder commitBatchesInFlight(int v) { commitBatchesInFlight = v; return this; }
        /** {@code engine_partitions}: 1..64. */
        public Builder enginePartitions(int v) { enginePartitions = v; return this; }
        /** {@code io_threads}: 1..1024, or 0 for Netty's default (two per core, or -Dio.netty.eventLoopThreads). */
        public Builder ioThreads(int v) { ioThreads = v; return this; }

        public BrokerConfig build() {
            return new BrokerConfig(host, port, sslPort, websocketPort, websocketPath, secureWebsocketPort, dataPath,
                    durability, metricsHost, metricsPort, anonymous, passwordFile, aclFile, authenticatorClass,
                    authorizatorClass, interceptHandlers, tls, limits, properties, configFile, backupDir, admission, commitBatchesInFlight,
                    enginePartitions, ioThreads);
        }
    }
}
