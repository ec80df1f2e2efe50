package io.durablemq.cluster;

import io.durablemq.engine.store.ReadOnlyStore;
import io.durablemq.engine.store.StoreColumn;
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

/** Real nodes on loopback ports, each with its data and Raft folder under one temporary folder, for tests. */
final class ClusterHarness implements AutoCloseable {
    final Path tmp;
    final List<Peer> peers = new ArrayList<>();
    final List<ClusterNode> nodes = new ArrayList<>();
    final List<EngineService> services = new ArrayList<>();
    private final SnapshotPolicy policy;

    ClusterHarness(Path tmp, int size, SnapshotPolicy policy) throws IOException {
        this.tmp = tmp;
        this.policy = policy;
        for (int i = 1; i <= size; i++) {
            peers.add(new Peer("n" + i, "127.0.0.1", ThreeNodeReplicationTest.freePort(), null));
            nodes.add(null);
            services.add(null);
        }
    }

    Path data(int i) {
        return tmp.resolve("data" + (i + 1));
    }

    Path raft(int i) {
        return tmp.resolve("raft" + (i + 1));
    }

    ClusterSettings settings(int i) {
        return new ClusterSettings("n" + (i + 1), peers, raft(i), io.durablemq.engine.store.Durability.OS,
                Duration.ofMillis(1000), policy);
    }

    ClusterNode start(int i) throws Exception {
        EngineService service = new EngineService(data(i));
        ClusterNode node = ClusterNode.start(settings(i), data(i), service);
        services.set(i, service);
        nodes.set(i, node);
        return node;
    }

    void startAll() throws Exception {
        for (int i = 0; i < peers.size(); i++) {
            start(i);
        }
    }

    void stop(int i) {
        ClusterNode n = nodes.set(i, null);
        if (n != null) {
            n.close();
        }
    }

    /** Waits (bounded) until a node serves; returns its index. */
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

    @Override
    public void close() {
        for (int i = 0; i < nodes.size(); i++) {
            stop(i);
        }
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

    /**
     * Every key and value of every column family of the (closed) store in {@code dir}: per column,
     * the number of records and a SHA-256 over them in key order. Two stores with equal scans hold
     * the same sessions, subscriptions, queues, bodies, in-flight windows, retained messages.
     */
    static Map<StoreColumn, String> scan(Path dir) throws Exception {
        Map<StoreColumn, String> out = new LinkedHashMap<>();
        try (ReadOnlyStore store = ReadOnlyStore.open(dir); ReadOptions ro = new ReadOptions()) {
            for (StoreColumn c : StoreColumn.values()) {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                long n = 0;
                try (RocksIterator it = store.iterator(c, ro)) {
                    for (it.seekToFirst(); it.isValid(); it.next()) {
                        byte[] k = it.key();
                        byte[] v = it.value();
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
