package io.durablemq.broker.cluster;

import io.durablemq.broker.BrokerServer;
import io.durablemq.broker.admin.BackupEndpoint;
import io.durablemq.broker.admin.BackupMetrics;
import io.durablemq.broker.admin.ReloadEndpoint;
import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.security.SecurityReloader;
import io.durablemq.engine.backup.BackupException;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.listener.Listeners;
import io.durablemq.broker.metrics.MetricsServer;
import io.durablemq.broker.tls.SslContexts;
import io.durablemq.cluster.ClusterNode;
import io.durablemq.cluster.ClusterSettings;
import io.durablemq.cluster.NodeRole;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreOpenException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.handler.ssl.SslContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The broker process of a cluster node. While the node follows, its MQTT listeners (plain, TLS,
 * WebSocket, secure WebSocket, as configured) answer CONNECT with a redirection ({@link
 * ConnectRedirector}) and {@code /ready} says 503; when it becomes the serving leader the redirector
 * gives the ports to a full {@link BrokerServer} whose engine
 * commits through Raft, and {@code /ready} says 200; when it loses leadership the broker closes
 * (every connection, the engine) and the redirector takes the port back. The metrics endpoint
 * stays up throughout (cluster gauges, plus the broker's metrics while it serves).
 */
public final class ClusterBroker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterBroker.class);

    private final BrokerConfig config;
    /** The broker's settings while serving: its metrics endpoint is this class's, so it opens none. */
    private final BrokerConfig servingConfig;
    private final ClusterMetrics.ClusterNodeRef nodeRef = new ClusterMetrics.ClusterNodeRef();
    private final ClusterMetrics metrics;
    private final List<ConnectRedirector.Listener> redirectListeners;
    private volatile BrokerServer broker;
    private ConnectRedirector redirector;
    private MetricsServer metricsServer;
    private ClusterNode node;

    private final ServerReferences references;

    private ClusterBroker(BrokerConfig config, List<ConnectRedirector.Listener> redirectListeners, ServerReferences references) {
        this.config = config;
        this.references = references;
        this.redirectListeners = redirectListeners;
        // The Raft log is the durable record (fsynced on a majority in fsync mode); the store is a
        // replica of it that replay restores after a crash, so the engine's own RocksDB write needs
        // no second fsync (docs/CLUSTER.md, "What a PUBACK promises").
        this.servingConfig = config.toBuilder().metricsPort(0)
                .durability(io.durablemq.engine.store.Durability.OS).build();
        this.metrics = new ClusterMetrics(nodeRef, () -> {
            BrokerServer b = broker;
            return b == null ? null : b.meterRegistry();
        });
    }

    public static ClusterBroker start(BrokerConfig config)
            throws BrokerConfigException, StoreOpenException, IOException, InterruptedException {
        ClusterSettings settings = ClusterConfig.settings(config);
        ClusterBroker cb = new ClusterBroker(config, redirectListeners(config), ServerReferences.fromConfig(config.properties(),
                settings.peers().stream().map(io.durablemq.cluster.Peer::id).collect(java.util.stream.Collectors.toSet())));
        try {
            if (config.metricsPort() != 0) {
                cb.metricsServer = MetricsServer.start(config.metricsHost(), config.metricsPort(), cb.metrics, cb::isReady);
                cb.metricsServer.handle("/cluster", exchange -> {
                    try (exchange) {
                        byte[] body = cb.statusText().getBytes(StandardCharsets.UTF_8);
                        exchange.getResponseHeaders().set("Content-Type", "text/plain");
                        exchange.sendResponseHeaders(200, body.length);
                        exchange.getResponseBody().write(body);
                    }
                });
                // Per node, whatever its role (docs/CLUSTER.md, "Backup and reload on a cluster"): a backup of
                // this node's own store at its applied index; a reload of this node's password and ACL files.
                cb.metricsServer.handle(ReloadEndpoint.PATH, new ReloadEndpoint(cb::reloadSecurityFiles));
                cb.metricsServer.handle(BackupEndpoint.PATH, new BackupEndpoint(cb::backup, config.backupDir(),
                        new BackupMetrics(cb.metrics)));
            }
            cb.bindRedirector();
            ServingWarmup.startInBackground();
            cb.node = ClusterNode.start(settings, config.dataPath(), cb.new Serving(), cb.metrics::recordTakeover);
            cb.nodeRef.set(cb.node);
            return cb;
        } catch (IOException | StoreOpenException | InterruptedException | RuntimeException e) {
            cb.close();
            throw e;
        }
    }

    /** 200 on {@code /ready} only on the serving leader whose broker is ready. */
    public boolean isReady() {
        BrokerServer b = broker;
        ClusterNode n = node;
        return n != null && n.role() == NodeRole.SERVING && b != null && b.isReady();
    }

    /** One line per fact, for {@code GET /cluster} and the local-cluster script. */
    public String statusText() {
        ClusterNode n = node;
        if (n == null) {
            return "role STARTING\n";
        }
        var s = n.raftStatus();
        StringBuilder b = new StringBuilder("node " + n.settings().nodeId() + "\nrole " + n.role() + "\nraft_role " + s.role()
                + "\nleader " + s.leaderId() + "\nterm " + s.term() + "\ncommit_index " + s.commitIndex() + "\napplied_index "
                + s.appliedIndex() + "\nserving_starts " + n.leaderChanges() + "\nleader_changes " + n.observedLeaderChanges() + "\n");
        if (n.servingStartFailures() > 0) { // this node led but could not serve, and handed leadership on (ClusterNode)
            b.append("serving_start_failures ").append(n.servingStartFailures()).append("\nleadership_handoffs ")
                    .append(n.leadershipHandoffs()).append("\nlast_start_failure ").append(n.lastStartFailure()).append('\n');
        }
        // On the leader only: one line per follower, its lag behind the commit index and when it last answered.
        for (var f : n.followers()) {
            b.append("follower ").append(f.id()).append(" match_index ").append(f.matchIndex()).append(" lag ")
                    .append(f.lag(s.commitIndex())).append(" last_contact_ms ").append(f.lastContactMillis()).append('\n');
        }
        return b.toString();
    }

    public ClusterNode node() {
        return node;
    }

    /**
     * SIGHUP and {@code POST /admin/reload}: the serving leader reloads its password and ACL files as a
     * single broker does; a node that does not serve has no rules in force and only checks the files
     * (it reads them when it starts serving), so an error is found before this node leads.
     */
    public SecurityReloader.Result reloadSecurityFiles(String trigger) {
        BrokerServer b = broker;
        ClusterNode n = node;
        String who = "node " + (n == null ? "(starting)" : n.settings().nodeId());
        if (b != null) {
            SecurityReloader.Result r = b.reloadSecurityFiles(trigger);
            return new SecurityReloader.Result(r.ok(), who + " (serving leader): " + r.message());
        }
        SecurityReloader.Result r = SecurityReloader.check(config, trigger);
        return new SecurityReloader.Result(r.ok(), who + " (" + (n == null ? "starting" : n.role()) + "): " + r.message());
    }

    /** {@code POST /admin/backup}: this node's own store at its applied index (io.durablemq.cluster.ClusterBackup). */
    private BackupEndpoint.Written backup(java.nio.file.Path target) throws BackupException {
        ClusterNode n = node;
        if (n == null) {
            throw new BackupException(BackupException.Reason.UNAVAILABLE, target, "the cluster node is still starting", null);
        }
        io.durablemq.cluster.ClusterBackup c = n.backup(target);
        return new BackupEndpoint.Written(c.store(), "\"applied_index\":" + c.appliedIndex() + ",\"node\":"
                + io.durablemq.engine.check.Json.quote(c.nodeId()) + ",\"role\":" + io.durablemq.engine.check.Json.quote(c.role().name()));
    }

    /**
     * The listeners a follower answers on: the same kinds and ports the serving broker binds, so a
     * client on any of them learns where the leader is. The TLS context is made once, at start, so a
     * bad TLS setting is refused when the node starts rather than when it first leads.
     */
    private static List<ConnectRedirector.Listener> redirectListeners(BrokerConfig config) throws BrokerConfigException {
        boolean tls = config.sslPort() != BrokerConfig.DISABLED || config.secureWebsocketPort() != BrokerConfig.DISABLED;
        SslContext ssl = tls ? SslContexts.serverContext(config.tls()) : null;
        List<ConnectRedirector.Listener> out = new ArrayList<>();
        if (config.port() != BrokerConfig.DISABLED) {
            out.add(new ConnectRedirector.Listener(Listeners.Kind.TCP, config.port(), null, null));
        }
        if (config.sslPort() != BrokerConfig.DISABLED) {
            out.add(new ConnectRedirector.Listener(Listeners.Kind.TLS, config.sslPort(), ssl, null));
        }
        if (config.websocketPort() != BrokerConfig.DISABLED) {
            out.add(new ConnectRedirector.Listener(Listeners.Kind.WEBSOCKET, config.websocketPort(), null, config.websocketPath()));
        }
        if (config.secureWebsocketPort() != BrokerConfig.DISABLED) {
            out.add(new ConnectRedirector.Listener(Listeners.Kind.SECURE_WEBSOCKET, config.secureWebsocketPort(), ssl,
                    config.websocketPath()));
        }
        return out;
    }

    private synchronized void bindRedirector() throws InterruptedException {
        if (redirectListeners.isEmpty() || redirector != null) {
            return;
        }
        RuntimeException last = null;
        for (int attempt = 0; attempt < 50; attempt++) { // the broker's listener may take a moment to let go
            try {
                redirector = ConnectRedirector.bind(config.host(), redirectListeners, (kind, port) -> {
                    ClusterNode n = node;
                    return n == null ? null : references.reference(kind, port, n.raftStatus().leaderId(), n.leaderMqttAddress());
                });
                return;
            } catch (RuntimeException e) {
                last = e;
                Thread.sleep(100);
            }
        }
        throw last;
    }

    private synchronized void unbindRedirector() {
        if (redirector != null) {
            redirector.close();
            redirector = null;
        }
    }

    /** What the node runs while it leads: the whole broker. */
    private final class Serving implements ClusterNode.Service {
        @Override
        public void start(BatchLog batchLog, Store store, Runnable engineOpened) throws Exception {
            try {
                // The redirector keeps answering (0x9C naming this node) while the engine recovers, and lets
                // go of the ports only then, just before the broker binds them.
                broker = BrokerServer.start(servingConfig, batchLog, store, () -> {
                    engineOpened.run();
                    unbindRedirector();
                });
                log.info("serving MQTT on port {}", broker.mqttPort());
            } catch (Exception e) {
                store.close(); // ours from the call (idempotent)
                bindRedirector();
                throw e;
            }
        }

        @Override
        public void stop() {
            BrokerServer b = broker;
            broker = null;
            if (b != null) {
                b.close();
            }
            try {
                bindRedirector();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                log.error("cannot bind the MQTT port for redirection: {}", e.toString());
            }
        }
    }

    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    /** Not synchronized: the role loop, which node.close() joins, may be in bindRedirector. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (node != null) {
            node.close();
        }
        unbindRedirector();
        if (metricsServer != null) {
            metricsServer.close();
        }
        metrics.close();
    }
}
