package io.durablemq.broker.cluster;

import io.durablemq.broker.BrokerServer;
import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.engine.store.Durability;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Starts and stops a throwaway broker once, when a cluster node starts, so that the node's first
 * takeover does not pay the JVM's first-run costs (class loading, static set-up of the engine,
 * Netty, metrics): measured in {@code ClusterFailoverIT}, a node that had never served took 0.4-2.6 s
 * from "opening the engine" to serving, of which the engine's recovery was 0.13-0.2 s; a node that
 * had served before took 0.07 s (docs/CLUSTER.md, "Failover time").
 *
 * <p>The throwaway broker has nothing of the node's: default settings (no plugins, no TLS, no
 * password or ACL files), an empty store in a fresh temporary folder, one plain listener on
 * 127.0.0.1 port 0, no metrics port. It runs on its own thread, is deleted afterwards, and a
 * failure only logs (the node serves the same without it). {@code -Ddurablemq.cluster.warmup=false}
 * turns it off.
 */
final class ServingWarmup {
    private static final Logger log = LoggerFactory.getLogger(ServingWarmup.class);

    private ServingWarmup() {
    }

    static void startInBackground() {
        if (!Boolean.parseBoolean(System.getProperty("durablemq.cluster.warmup", "true"))) {
            return;
        }
        Thread t = new Thread(ServingWarmup::run, "durablemq-serving-warmup");
        t.setDaemon(true);
        t.setPriority(Thread.MIN_PRIORITY);
        t.start();
    }

    private static void run() {
        long t0 = System.nanoTime();
        Path folder = null;
        try {
            folder = Files.createTempDirectory("durablemq-warmup-");
            BrokerConfig config = BrokerConfig.defaults().toBuilder().host("127.0.0.1").port(0)
                    .sslPort(BrokerConfig.DISABLED).websocketPort(BrokerConfig.DISABLED)
                    .secureWebsocketPort(BrokerConfig.DISABLED).metricsPort(0)
                    .dataPath(folder.resolve("data")).durability(Durability.OS).build();
            BrokerServer.start(config).close();
            log.info("serving path warmed up in {} ms (a throwaway broker on an empty store in {})",
                    (System.nanoTime() - t0) / 1_000_000, folder);
        } catch (Exception | LinkageError e) {
            log.warn("serving warm-up failed (the node serves the same without it): {}", e.toString());
        } finally {
            delete(folder);
        }
    }

    private static void delete(Path folder) {
        if (folder == null) {
            return;
        }
        try (Stream<Path> all = Files.walk(folder)) {
            for (Path p : (Iterable<Path>) all.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            log.warn("cannot delete the warm-up folder {}: {}", folder, e.toString());
        }
    }
}
