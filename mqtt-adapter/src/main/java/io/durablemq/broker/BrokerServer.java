package io.durablemq.broker;

import io.durablemq.broker.admin.BackupEndpoint;
import io.durablemq.broker.admin.BackupMetrics;
import io.durablemq.broker.admin.ReloadEndpoint;
import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.interceptor.InterceptorBus;
import io.durablemq.broker.listener.Listeners;
import io.durablemq.broker.listener.Transport;
import io.durablemq.broker.metrics.Binders;
import io.durablemq.broker.metrics.BrokerMetrics;
import io.durablemq.broker.metrics.MetricsServer;
import io.durablemq.broker.protocol.ProtocolContext;
import io.durablemq.broker.security.AccessControl;
import io.durablemq.broker.security.SecurityReloader;
import io.durablemq.broker.tls.SslContexts;
import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.RecoveryReport;
import io.durablemq.engine.store.StoreOpenException;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.handler.ssl.SslContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.UnaryOperator;

/**
 * The whole broker, embeddable: metrics endpoint, security, interceptors, engine, listeners.
 * {@link #start} returns once every listener accepts clients; {@link #close} stops gracefully
 * (stop accepting, close connections, let session detaches finish, close the engine, which
 * flushes). Ports configured as 0 are bound to free ports, readable from the accessors.
 */
public final class BrokerServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BrokerServer.class);
    private static final long CLOSE_CONNECTIONS_TIMEOUT_MILLIS = 5_000;

    private final BrokerConfig config;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    /** What to close on stop, last opened first. */
    private final Deque<AutoCloseable> opened = new ArrayDeque<>();
    private volatile boolean ready;
    private volatile boolean closed;
    private MetricsServer metricsServer;
    private volatile Engine engine;
    /** Applied to the engine settings before the engine opens: test-only fault injection. */
    private final UnaryOperator<EngineConfig> engineTweak;
    private ProtocolContext protocol;
    private Listeners listeners;
    private SecurityReloader securityReloader;

    /** Where the engine's committer makes batches durable: the local store, or a cluster's Raft log. */
    private final io.durablemq.engine.store.BatchLog batchLog;
    /** A cluster's new leader: the store its state machine has open, handed to the engine (null: the engine opens data_path). */
    private io.durablemq.engine.store.Store handedStore;
    /** Told when the engine has recovered, before the listeners bind (a cluster's takeover timer). */
    private Runnable engineOpened = () -> { };

    private BrokerServer(BrokerConfig config, UnaryOperator<EngineConfig> engineTweak, io.durablemq.engine.store.BatchLog batchLog) {
        this.config = config;
        this.engineTweak = engineTweak;
        this.batchLog = batchLog;
    }

    /** A cluster's leader: the engine commits through {@code batchLog} (see cluster/ and docs/CLUSTER.md). */
    public static BrokerServer start(BrokerConfig config, io.durablemq.engine.store.BatchLog batchLog)
            throws BrokerConfigException, StoreOpenException, IOException, InterruptedException {
        return start(config, c -> c, batchLog);
    }

    /**
     * As above, the engine recovering from {@code store}, already open on data_path; owns it from the
     * call (closes it on failure). {@code engineOpened} runs once the engine has recovered.
     */
    public static BrokerServer start(BrokerConfig config, io.durablemq.engine.store.BatchLog batchLog,
                                     io.durablemq.engine.store.Store store, Runnable engineOpened)
            throws BrokerConfigException, StoreOpenException, IOException, InterruptedException {
        BrokerServer server = new BrokerServer(config, c -> c, batchLog);
        server.handedStore = store;
        server.engineOpened = engineOpened;
        try {
            server.startAll();
            return server;
        } catch (BrokerConfigException | StoreOpenException | IOException | InterruptedException | RuntimeException e) {
            server.close();
            store.close(); // idempotent: the engine closed it already if it got that far
            throw e;
        }
    }

    /** Starts a broker; on failure everything already started is stopped again. */
    public static BrokerServer start(BrokerConfig config)
            throws BrokerConfigException, StoreOpenException, IOException, InterruptedException {
        return start(config, c -> c);
    }

    /** Tests: starts with engine settings changed by {@code engineTweak} (e.g. injected commit faults). */
    static BrokerServer start(BrokerConfig config, UnaryOperator<EngineConfig> engineTweak)
            throws BrokerConfigException, StoreOpenException, IOException, InterruptedException {
        return start(config, engineTweak, io.durablemq.engine.store.BatchLog.LOCAL);
    }

    private static BrokerServer start(BrokerConfig config, UnaryOperator<EngineConfig> engineTweak,
                                      io.durablemq.engine.store.BatchLog batchLog)
            throws BrokerConfigException, StoreOpenException, IOException, InterruptedException {
        BrokerServer server = new BrokerServer(config, engineTweak, batchLog);
        try {
            server.startAll();
            return server;
        } catch (BrokerConfigException | StoreOpenException | IOException | InterruptedException | RuntimeException e) {
            server.close();
            throw e;
        }
    }

    private void startAll() throws BrokerConfigException, StoreOpenException, IOException, InterruptedException {
        opened.push(registry::close);
        opened.push(new Binders(registry));
        if (config.metricsPort() != 0) {
            // Up before recovery, so /health answers and /ready says 503 while the store opens.
            metricsServer = MetricsServer.start(config.metricsHost(), config.metricsPort(), registry, this::isReady);
            opened.push(metricsServer);
        }
        AccessControl access = AccessControl.fromConfig(config, registry);
        securityReloader = new SecurityReloader(config, access, registry);
        if (metricsServer != null) { // like backups: asked for on the metrics port, from this host only
            metricsServer.handle(ReloadEndpoint.PATH, new ReloadEndpoint(securityReloader));
        }
        InterceptorBus interceptors = InterceptorBus.fromConfig(config, registry);
        opened.push(interceptors);
        SslContext ssl = config.sslPort() != BrokerConfig.DISABLED || config.secureWebsocketPort() != BrokerConfig.DISABLED
                ? SslContexts.serverContext(config.tls()) : null;

        LOG.info("opening store in {} (durability {})", config.dataPath().toAbsolutePath(), config.durability());
        engine = handedStore == null ? Engine.open(engineTweak.apply(config.toEngineConfig()), registry, batchLog)
                : Engine.open(engineTweak.apply(config.toEngineConfig()), registry, batchLog, handedStore);
        engineOpened.run();
        opened.push(engine);
        if (metricsServer != null) { // backups are asked for on the metrics port, from this host only
            metricsServer.handle(BackupEndpoint.PATH, new BackupEndpoint(engine, config.backupDir(), new BackupMetrics(registry)));
        }
        RecoveryReport report = engine.recoveryReport();
        LOG.info("store recovered in {} ms: {} sessions, {} subscriptions, {} queued and {} in-flight messages, "
                        + "{} retained", report.duration().toMillis(), report.sessions(), report.subscriptions(),
                report.queuedMessages(), report.inflightMessages(), report.retainedMessages());

        protocol = new ProtocolContext(engine, config.limits(), access, interceptors, new BrokerMetrics(registry));
        Transport transport = Transport.create(config.ioThreads());
        opened.push(transport);
        listeners = new Listeners(transport, protocol, config.host());
        opened.push(() -> protocol.closeAllConnections(CLOSE_CONNECTIONS_TIMEOUT_MILLIS));
        opened.push(listeners);
        // Wills recovered from the store go out now, checked against the ACL, just before the
        // listeners open: no client can have reconnected earlier anyway, and no CONNECT can meet
        // a recovered will before the ACL that must judge it is in place.
        engine.startWills(access::canPublish);
        if (config.port() != BrokerConfig.DISABLED) {
            listeners.bind(Listeners.Kind.TCP, config.port(), null, null);
        }
        if (config.sslPort() != BrokerConfig.DISABLED) {
            listeners.bind(Listeners.Kind.TLS, config.sslPort(), ssl, null);
        }
        if (config.websocketPort() != BrokerConfig.DISABLED) {
            listeners.bind(Listeners.Kind.WEBSOCKET, config.websocketPort(), null, config.websocketPath());
        }
        if (config.secureWebsocketPort() != BrokerConfig.DISABLED) {
            listeners.bind(Listeners.Kind.SECURE_WEBSOCKET, config.secureWebsocketPort(), ssl, config.websocketPath());
        }
        String hint = config.loopbackHint();
        if (hint != null && config.configFile() == null) { // with a file, the config reader already said so
            LOG.info(hint);
        }
        ready = true;
        LOG.info("DurableMQ broker ready");
    }

    /**
     * True once the store is open and recovered and the listeners accept clients, until stop
     * begins; false meanwhile while the engine cannot commit (a failed write until its reset has
     * reopened the store), and while the engine refuses new QoS 1/2 publishes (queue budget or
     * heap guard: {@link Engine#isRefusingPublishes()}).
     */
    public boolean isReady() {
        Engine e = engine;
        return ready && e != null && e.isCommitting() && !e.isRefusingPublishes();
    }

    /**
     * Reads the password file and the ACL file again (what SIGHUP does); connections stay open
     * and are checked against the new rules from their next publish and subscribe. A file with an
     * error keeps the previous rules; the result says why.
     */
    public SecurityReloader.Result reloadSecurityFiles(String trigger) {
        SecurityReloader r = securityReloader;
        if (r == null) {
            return new SecurityReloader.Result(false, "the broker has not started");
        }
        return r.reload(trigger);
    }

    public int mqttPort() {
        return listeners == null ? -1 : listeners.port(Listeners.Kind.TCP);
    }

    public int sslPort() {
        return listeners == null ? -1 : listeners.port(Listeners.Kind.TLS);
    }

    public int websocketPort() {
        return listeners == null ? -1 : listeners.port(Listeners.Kind.WEBSOCKET);
    }

    public int secureWebsocketPort() {
        return listeners == null ? -1 : listeners.port(Listeners.Kind.SECURE_WEBSOCKET);
    }

    /** The metrics endpoint's port, or -1 when disabled. */
    public int metricsPort() {
        return metricsServer == null ? -1 : metricsServer.port();
    }

    public PrometheusMeterRegistry meterRegistry() {
        return registry;
    }

    /** The running engine (tests inspect sessions through it), or null before start / after close. */
    public Engine engine() {
        return engine;
    }

    public BrokerConfig config() {
        return config;
    }

    /** Graceful stop; safe to call more than once and from a shutdown hook. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        ready = false;
        if (!opened.isEmpty()) {
            LOG.info("stopping broker");
        }
        while (!opened.isEmpty()) {
            AutoCloseable next = opened.pop();
            try {
                next.close();
            } catch (Exception e) {
                LOG.warn("error while stopping {}: {}", next, e.toString());
            }
        }
        LOG.info("broker stopped");
    }
}
