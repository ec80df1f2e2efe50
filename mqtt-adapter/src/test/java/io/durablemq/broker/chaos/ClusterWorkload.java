package io.durablemq.broker.chaos;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The clients of a cluster chaos run and their {@link Ledger}: four durable Paho publishers (two at
 * QoS 1, two at QoS 2) and three persistent subscribers ({@code s-all}, {@code s-plus-q1}, and
 * {@code s-drain}, which the run takes offline so its queue fills). The run moves them to whichever
 * node serves ({@link #connectAll}) and ends with {@link #finish}: publishing stops at the target,
 * every in-flight message completes, the subscribers drain.
 */
final class ClusterWorkload implements AutoCloseable {
    private static final int WINDOW = 40;
    private static final int MAX_LAG = 3_000;

    final Ledger ledger = new Ledger();
    private final List<PahoPublisher> publishers = new ArrayList<>();
    private final List<PahoSubscriber> subscribers = new ArrayList<>();
    private final ExecutorService connector = Executors.newFixedThreadPool(4);
    private final Consumer<String> progress;

    ClusterWorkload(Consumer<String> progress) {
        this.progress = progress;
    }

    /** The subscriber a run takes offline so its queue fills (and, in the pause case, so it can only read the new leader's store). */
    PahoSubscriber drain() {
        return subscribers.get(2);
    }

    void createClients(String uri, Path paho) throws Exception {
        Files.createDirectories(paho);
        int[] qos = {1, 1, 2, 2};
        for (int i = 0; i < qos.length; i++) {
            String name = "p" + (i + 1);
            publishers.add(new PahoPublisher(name + "-q" + qos[i], qos[i], List.of("chaos/" + name + "/a", "chaos/" + name + "/b"),
                    WINDOW, ledger, uri, paho, () -> ledger.acknowledgedCount() - ledger.deliveries("s-all") < MAX_LAG));
        }
        subscribers.add(new PahoSubscriber("s-all", "chaos/#", 2, null, ledger, uri, paho));
        subscribers.add(new PahoSubscriber("s-plus-q1", "chaos/+/b", 1, null, ledger, uri, paho));
        subscribers.add(new PahoSubscriber("s-drain", "chaos/#", 2, null, ledger, uri, paho));
        for (PahoSubscriber s : subscribers) {
            s.connect(uri);
        }
        for (PahoPublisher p : publishers) {
            p.start();
        }
        connectAll(uri);
    }

    /** Connects every client that should be online; a client already connected stays as it is. */
    void connectAll(String uri) throws Exception {
        List<Future<?>> done = new ArrayList<>();
        for (PahoPublisher p : publishers) {
            done.add(connector.submit(() -> {
                p.connect(uri, true);
                return null;
            }));
        }
        for (PahoSubscriber s : subscribers) {
            if (s.wantOnline) {
                done.add(connector.submit(() -> {
                    s.connect(uri, true);
                    return null;
                }));
            }
        }
        for (Future<?> f : done) {
            f.get();
        }
    }

    /** {@link #finish(UriSupplier, int)} with the node the cluster elects as leader. */
    void finish(ClusterUnderTest cluster, int target) throws Exception {
        finish(() -> cluster.uri(cluster.awaitLeader(60_000)), target);
    }

    /**
     * Publishes until {@code target} messages are acknowledged (at most 180 s), stops publishing, waits for
     * every in-flight message's acknowledgement and for the subscribers to receive everything acknowledged.
     * {@code servingUri} names the node that serves now (asked again whenever clients reconnect).
     */
    void finish(UriSupplier servingUri, int target) throws Exception {
        for (PahoSubscriber s : subscribers) {
            s.wantOnline = true;
        }
        long deadline = System.currentTimeMillis() + 180_000;
        while (ledger.acknowledgedCount() < target && System.currentTimeMillis() < deadline) {
            connectAll(servingUri.get()); // no-op for connected clients
            Thread.sleep(1_000);
        }
        for (PahoPublisher p : publishers) {
            p.pause(true);
        }
        progress.accept("target reached: acknowledged " + ledger.acknowledgedCount());
        connectAll(servingUri.get());
        if (!await(() -> publishers.stream().mapToInt(PahoPublisher::inFlight).sum() == 0, 60_000)) {
            for (PahoPublisher p : publishers) {
                for (MsgId id : p.inFlightIds()) {
                    ledger.anomaly("no delivery complete for " + id + " after 60 s; " + ledger.describe(id));
                }
            }
        }
        long lastMissing = Long.MAX_VALUE;
        long lastProgress = System.currentTimeMillis();
        while (System.currentTimeMillis() - lastProgress < 30_000) {
            long missing = ledger.missing();
            if (missing == 0) {
                break;
            }
            if (missing < lastMissing) {
                lastMissing = missing;
                lastProgress = System.currentTimeMillis();
            }
            Thread.sleep(100);
        }
        progress.accept("drained, missing " + ledger.missing());
    }

    List<Throwable> publisherFailures() {
        List<Throwable> out = new ArrayList<>();
        for (PahoPublisher p : publishers) {
            if (p.failure() != null) {
                out.add(p.failure());
            }
        }
        return out;
    }

    void closeClients() throws InterruptedException {
        for (PahoPublisher p : publishers) {
            p.close();
        }
        for (PahoSubscriber s : subscribers) {
            s.close();
        }
        publishers.clear();
        subscribers.clear();
    }

    @Override
    public void close() throws InterruptedException {
        closeClients();
        connector.shutdownNow();
    }

    static boolean await(BooleanSupplier condition, long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(20);
        }
        return condition.getAsBoolean();
    }

    /** The MQTT URI of the node serving now (may wait for one). */
    @FunctionalInterface
    interface UriSupplier {
        String get() throws Exception;
    }
}
