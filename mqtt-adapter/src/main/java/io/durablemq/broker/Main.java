package io.durablemq.broker;

import io.durablemq.broker.admin.BackupCommand;
import io.durablemq.broker.admin.RepairCommand;
import io.durablemq.broker.admin.VerifyCommand;
import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.security.PasswdCommand;
import io.durablemq.engine.store.StoreOpenException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code durablemq [--config FILE]}: runs the broker until SIGTERM / SIGINT, then stops it
 * gracefully (stop accepting, close connections, close the store) and exits 0. SIGHUP reads
 * the password and ACL files again ({@link ReloadSignal}).
 * Exit codes: 0 stopped normally, 1 the store could not be opened (damaged, locked, newer
 * format) or a listener could not start, 2 bad command line or config file.
 * Subcommands: {@code passwd}, {@code backup} (0 written, 1 refused or unreachable), {@code verify DATA_DIR} (0 healthy, 1 a check failed, 2 usage)
 * and {@code repair DATA_DIR} (0 repaired, 1 refused or failed, 2 usage).
 */
@Command(name = "durablemq", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        subcommands = {PasswdCommand.class, BackupCommand.class, VerifyCommand.class, RepairCommand.class,
                io.durablemq.broker.admin.ClusterCommand.class},
        description = "DurableMQ: an MQTT 3.1.1/5.0 broker that never loses an acknowledged message.",
        footer = "The config file uses Moquette's format and keys; see mqtt-adapter/CONFIG.md.")
public final class Main implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "Moquette-format config file (default: built-in defaults, data in ./data, port 1883).")
    private Path configFile;

    public static void main(String[] args) {
        int code = new CommandLine(new Main()).execute(args);
        if (code != 0) {
            System.exit(code);
        }
    }

    @Override
    public Integer call() throws InterruptedException {
        // A VirtualMachineError that ends any thread ends the broker (FatalErrors); threads with
        // their own handler (the engine's committer) keep it.
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
            if (e instanceof VirtualMachineError fatal) {
                FatalErrors.handle("thread " + t.getName(), fatal);
            } else {
                LOG.error("thread {} died", t.getName(), e);
            }
        });
        BrokerConfig config;
        try {
            config = configFile == null ? BrokerConfig.defaults() : BrokerConfig.load(configFile);
        } catch (BrokerConfigException e) {
            LOG.error("bad configuration: {}", e.getMessage());
            return 2;
        }
        if (io.durablemq.broker.cluster.ClusterConfig.isClustered(config)) {
            return runClusterNode(config);
        }
        // SIGHUP: read password_file and acl_file again. Installed before the store opens, so a
        // `systemctl reload` during a long recovery is ignored instead of stopping the broker (the
        // JVM's default for HUP).
        AtomicReference<BrokerServer> started = new AtomicReference<>();
        if (!ReloadSignal.install(() -> {
            BrokerServer s = started.get();
            if (s == null) {
                LOG.warn("SIGHUP ignored: the broker is still starting; the files are read when it opens");
            } else {
                s.reloadSecurityFiles("SIGHUP");
            }
        })) {
            LOG.warn("SIGHUP cannot be handled in this JVM (or it was started with SIGHUP ignored, e.g. under nohup); reload"
                    + " the password and ACL files with POST /admin/reload");
        }
        BrokerServer server;
        try {
            server = BrokerServer.start(config);
        } catch (BrokerConfigException e) {
            LOG.error("bad configuration: {}", e.getMessage());
            return 2;
        } catch (StoreOpenException e) {
            LOG.error("cannot open the store: {}", e.getMessage());
            return 1;
        } catch (Exception e) {
            LOG.error("broker failed to start: {}", e.toString(), e);
            return 1;
        }
        started.set(server);
        CountDownLatch stopped = new CountDownLatch(1);
        Runnable stop = () -> {
            server.close();
            stopped.countDown();
        };
        // SIGTERM/SIGINT: stop gracefully and exit 0 (a plain shutdown hook would leave exit status 143).
        boolean signals = TerminationSignals.install(() -> {
            LOG.info("termination signal received, shutting down");
            stop.run();
            System.exit(0);
        });
        // Covers System.exit from elsewhere and platforms without signal handling.
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "durablemq-shutdown"));
        if (!signals) {
            LOG.debug("signal handlers unavailable; relying on the shutdown hook");
        }
        stopped.await();
        return 0;
    }

    /** A cluster node (docs/CLUSTER.md): serves MQTT only while it leads; SIGTERM/SIGINT stop it as above. */
    private Integer runClusterNode(BrokerConfig config) throws InterruptedException {
        // SIGHUP: as for the single node (without it, HUP would stop the JVM): the leader reloads, a follower checks.
        AtomicReference<io.durablemq.broker.cluster.ClusterBroker> started = new AtomicReference<>();
        if (!ReloadSignal.install(() -> {
            io.durablemq.broker.cluster.ClusterBroker n = started.get();
            if (n == null) {
                LOG.warn("SIGHUP ignored: the cluster node is still starting; the files are read when it serves");
            } else {
                n.reloadSecurityFiles("SIGHUP");
            }
        })) {
            LOG.warn("SIGHUP cannot be handled in this JVM (or it was started with SIGHUP ignored, e.g. under nohup); reload"
                    + " the password and ACL files with POST /admin/reload");
        }
        io.durablemq.broker.cluster.ClusterBroker node;
        try {
            node = io.durablemq.broker.cluster.ClusterBroker.start(config);
            started.set(node);
        } catch (BrokerConfigException e) {
            LOG.error("bad configuration: {}", e.getMessage());
            return 2;
        } catch (StoreOpenException e) {
            LOG.error("cannot open the store: {}", e.getMessage());
            return 1;
        } catch (Exception e) {
            LOG.error("cluster node failed to start: {}", e.toString(), e);
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runnable stop = () -> {
            node.close();
            stopped.countDown();
        };
        TerminationSignals.install(() -> {
            LOG.info("termination signal received, shutting down");
            stop.run();
            System.exit(0);
        });
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "durablemq-shutdown"));
        stopped.await();
        return 0;
    }

    /** Version from the jar manifest (Implementation-Version), else "development". */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"DurableMQ broker " + (v == null ? "(development build)" : v)};
        }
    }
}
