package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.ReadOnlyStore;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.support.ListenPorts;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksIterator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real nodes on loopback ports, each with its data and Raft folder under one temporary folder, for tests.
 * Node {@code i} (from 0) is peer {@code n(i+1)} with folders {@code data(i+1)} and {@code raft(i+1)}; every
 * start of a node, a restart included, uses the same {@link Options}, so a restarted node has its settings.
 */
final class ClusterHarness implements AutoCloseable {
    /** Makes a node's service at each of its starts (a restarted node gets a fresh one on the same data folder). */
    @FunctionalInterface
    interface ServiceFactory {
        EngineService create(int node, Path data);
    }

    /**
     * How every node of the harness runs; {@link #DEFAULT} and one {@code with...} call per setting a test changes.
     *
     * @param durability      whether each Raft log append is fsynced (the applied store is written as the engine's config says)
     * @param electionTimeout the lower bound of the election timeout (the upper one is twice it)
     * @param snapshots       when snapshots are taken and the log purged
     * @param services        the service each node runs while it serves
     */
    record Options(Durability durability, Duration electionTimeout, SnapshotPolicy snapshots, ServiceFactory services) {
        static final Options DEFAULT = new Options(Durability.OS, Duration.ofMillis(1000), SnapshotPolicy.DEFAULT,
                (node, data) -> new EngineService(data));

        Options withDurability(Durability d) {
            return new Options(d, electionTimeout, snapshots, services);
        }

        Options withElectionTimeout(Duration timeout) {
            return new Options(durability, timeout, snapshots, services);
        }

        Options withSnapshots(SnapshotPolicy policy) {
            return new Options(durability, electionTimeout, policy, services);
        }

        Options withServices(ServiceFactory factory) {
            return new Options(durability, electionTimeout, snapshots, factory);
        }
    }

    final Path tmp;
    final List<Peer> peers = new ArrayList<>();
    final List<ClusterNode> nodes = new ArrayList<>();
    final List<EngineService> services = new ArrayList<>();
    private final Options options;

    ClusterHarness(Path tmp, int size, Options options) throws IOException {
        this.tmp = tmp;
        this.options = options;
        for (int i = 0; i < size; i++) {
            addNode();
        }
    }

    /**
     * One more peer on a free port, not started; returns its index. The peer list grows for every start
     * from now on (the newcomer's own first of all); the running nodes keep the group they started with,
     * which a test changes through {@link Membership}.
     */
    int addNode() throws IOException {
        peers.add(new Peer("n" + (peers.size() + 1), "127.0.0.1", freePort(), null));
        nodes.add(null);
        services.add(null);
        return peers.size() - 1;
    }

    Path data(int i) {
        return tmp.resolve("data" + (i + 1));
    }

    Path raft(int i) {
        return tmp.resolve("raft" + (i + 1));
    }

    ClusterSettings settings(int i) {
        return new ClusterSettings("n" + (i + 1), peers, raft(i), options.durability(), options.electionTimeout(),
                options.snapshots());
    }

    ClusterNode start(int i) throws Exception {
        EngineService service = options.services().create(i, data(i));
        ClusterNode node = ClusterNode.start(settings(i), data(i), service);
        services.set(i, service);
        nodes.set(i, node);
        return node;
    }

    /** Starts every node not yet started and waits (bounded) until one serves; returns its index. */
    int startAll() throws Exception {
        for (int i = 0; i < peers.size(); i++) {
            if (nodes.get(i) == null) {
                start(i);
            }
        }
        return awaitServing();
    }

    /** The engine of node {@code i} (null unless it serves). */
    Engine engine(int i) {
        return services.get(i).engine();
    }

    void stop(int i) {
        ClusterNode n = nodes.set(i, null);
        if (n != null) {
            n.close();
        }
    }

    /** Waits (bounded) until a running node serves; returns its index. */
    int awaitServing() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < nodes.size(); i++) {
                if (nodes.get(i) != null && nodes.get(i).role() == NodeRole.SERVING) {
                    return i;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no node serves within 60 s");
    }

    /** Waits (bounded) until node {@code i} has applied Raft entry {@code index}; fails the test otherwise. */
    void awaitApplied(int i, long index) throws InterruptedException {
        ClusterNode n = nodes.get(i);
        assertTrue(await(() -> n.raftStatus().appliedIndex() >= index, 60_000),
                "n" + (i + 1) + " applied " + n.raftStatus().appliedIndex() + " of " + index);
    }

    @Override
    public void close() {
        for (int i = 0; i < nodes.size(); i++) {
            stop(i);
        }
    }

    /**
     * A peer's Raft port, named before the node starts: below the kernel's ephemeral range
     * ({@link ListenPorts}), so no outbound connection (another node's Raft client) can take it
     * between this choice and the node's bind, as a port from bind-0-and-close could.
     */
    static int freePort() throws IOException {
        return ListenPorts.free();
    }

    static boolean await(BooleanSupplier condition, long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(50);
        }
        return condition.getAsBoolean();
    }

    static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(30, TimeUnit.SECONDS);
    }

    /** The snapshot folders in a node's Raft storage, newest first. */
    static List<Path> snapshotFolders(Path raftStorage) throws IOException {
        Path sm = SnapshotStorage.folderOf(raftStorage);
        if (!Files.isDirectory(sm)) {
            return List.of();
        }
        try (var list = Files.list(sm)) {
            return list.filter(p -> p.getFileName().toString().matches("snapshot\\.\\d+_\\d+"))
                    .sorted(Comparator.comparing((Path p) -> Long.parseLong(p.getFileName().toString().replaceAll(".*_", ""))).reversed())
                    .toList();
        }
    }

    static void deleteTree(Path dir) throws IOException {
        SnapshotStorage.deleteTree(dir);
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (var walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    /**
     * Every key and value of every column family of the (closed) store in {@code dir}: per column,
     * the number of records and a SHA-256 over them in key order. Two stores with equal scans hold
     * the same sessions, subscriptions, queues, bodies, in-flight windows, retained messages.
     */
    /** Each column family's record count and digest; the applied-entry record counts by presence only (see below). */
    static Map<StoreColumn, String> scan(Path dir) throws Exception {
        Map<StoreColumn, String> out = new LinkedHashMap<>();
        try (ReadOnlyStore store = ReadOnlyStore.open(dir); ReadOptions ro = new ReadOptions()) {
            for (StoreColumn c : StoreColumn.values()) {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                long n = 0;
                try (RocksIterator it = store.iterator(c, ro)) {
                    for (it.seekToFirst(); it.isValid(); it.next()) {
                        byte[] k = it.key();
                        // The applied-entry record is the node's Raft position, not content: a leader that
                        // applied one more entry without a batch (a no-op or configuration entry, recorded
                        // since exact replay) after a follower stopped holds the same records at a later
                        // position. Its presence is compared, its value is not. Nor is the store's creation time:
                        // a node that never installed another's snapshot keeps the time its own store was created.
                        boolean nodeOwn = c == StoreColumn.META
                                && (java.util.Arrays.equals(k, io.durablemq.engine.store.StoreFormat.RAFT_APPLIED_KEY)
                                || java.util.Arrays.equals(k, io.durablemq.engine.store.StoreFormat.CREATED_KEY));
                        byte[] v = nodeOwn ? new byte[0] : it.value();
                        sha.update(intBytes(k.length));
                        sha.update(k);
                        sha.update(intBytes(v.length));
                        sha.update(v);
                        n++;
                    }
                    it.status();
                }
                out.put(c, n + " records, sha256 " + HexFormat.of().formatHex(sha.digest()));
            }
        }
        return out;
    }

    private static byte[] intBytes(int v) {
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }
}
