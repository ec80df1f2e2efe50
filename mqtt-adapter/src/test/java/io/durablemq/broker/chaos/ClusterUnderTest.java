package io.durablemq.broker.chaos;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Three broker processes ({@code java -jar durablemq-broker.jar}) forming one Raft group on
 * loopback (or each on its own address and launched through a prefix such as {@code ip netns exec
 * NS}, see {@link NetnsNetwork}), each with its own data and Raft folders, its own free MQTT, metrics and Raft ports;
 * a node can be SIGKILLed, wiped and restarted on the same ports. The leader is the node whose
 * {@code /ready} answers 200.
 */
final class ClusterUnderTest implements AutoCloseable {
    static final int NODES = 3;

    private final Path jar;
    private final Path workDir;
    private final String durability;
    private final int[] mqtt = new int[NODES];
    private final int[] metrics = new int[NODES];
    private final int[] raft = new int[NODES];
    private final Process[] process = new Process[NODES];
    private final int[] starts = new int[NODES];
    /** Where node i listens (MQTT, metrics, Raft), and what its command line starts with. */
    private final List<String> hosts;
    private final List<List<String>> launchPrefix;
    /** Where each node's data and Raft folders live (default: its own folder under the work folder). */
    private final Path[] folders = new Path[NODES];

    private final Thread reaper = new Thread(this::killAllQuietly, "cluster-reaper");

    ClusterUnderTest(Path jar, Path workDir, String durability) throws IOException {
        this(jar, workDir, durability, List.of("127.0.0.1", "127.0.0.1", "127.0.0.1"), List.of(List.of(), List.of(), List.of()));
    }

    /** Node i on {@code hosts.get(i)}, started as {@code launchPrefix.get(i) + java -jar ...}. */
    ClusterUnderTest(Path jar, Path workDir, String durability, List<String> hosts, List<List<String>> launchPrefix)
            throws IOException {
        this.hosts = List.copyOf(hosts);
        this.launchPrefix = List.copyOf(launchPrefix);
        this.jar = jar;
        this.workDir = workDir;
        this.durability = durability;
        for (int i = 0; i < NODES; i++) {
            mqtt[i] = freePort();
            metrics[i] = freePort();
            raft[i] = freePort();
            folders[i] = workDir.resolve("n" + (i + 1));
        }
        Runtime.getRuntime().addShutdownHook(reaper);
    }

    /** Puts node {@code i}'s data and Raft folders under {@code dir} (e.g. a LazyFS mount); before its start. */
    void placeFolders(int i, Path dir) {
        folders[i] = dir;
    }

    void startAll() throws IOException {
        for (int i = 0; i < NODES; i++) {
            start(i);
        }
    }

    void start(int i) throws IOException {
        if (process[i] != null && process[i].isAlive()) {
            throw new IllegalStateException("node " + i + " already runs");
        }
        Path node = Files.createDirectories(workDir.resolve("n" + (i + 1)));
        StringBuilder peers = new StringBuilder();
        StringBuilder addresses = new StringBuilder();
        for (int j = 0; j < NODES; j++) {
            peers.append(j == 0 ? "" : ",").append("n").append(j + 1).append('=').append(hosts.get(j)).append(':').append(raft[j]);
            addresses.append(j == 0 ? "" : ",").append("n").append(j + 1).append('=').append(hosts.get(j)).append(':').append(mqtt[j]);
        }
        Path config = node.resolve("broker.conf");
        Files.writeString(config, String.join("\n",
                "# written by the cluster harness",
                "host " + hosts.get(i),
                "port " + mqtt[i],
                "metrics_endpoint_port " + metrics[i],
                "metrics_host " + hosts.get(i),
                "data_path " + folders[i].resolve("data").toAbsolutePath(),
                "durability " + durability,
                "allow_anonymous true",
                "cluster_node_id n" + (i + 1),
                "cluster_peers " + peers,
                "cluster_mqtt_addresses " + addresses,
                "cluster_storage_path " + folders[i].resolve("raft").toAbsolutePath(),
                ""));
        starts[i]++;
        Path log = node.resolve("broker-" + starts[i] + ".log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(launchPrefix.get(i));
        // A GC log per start beside the broker's log: the heap after each collection is the first thing to read
        // when a node stalls late in a long run (the s23 soak's failure was a full heap).
        Path gcLog = node.resolve("gc-" + starts[i] + ".log");
        command.addAll(List.of(java, "-Xmx256m", "-XX:+UseSerialGC", "-Xlog:gc:file=" + gcLog,
                "-jar", jar.toString(), "--config", config.toString()));
        process[i] = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** SIGKILL; returns the exit status (137 expected). */
    int kill(int i) throws InterruptedException {
        process[i].destroyForcibly();
        if (!process[i].waitFor(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("node " + i + " survived SIGKILL");
        }
        return process[i].exitValue();
    }

    /** Sends {@code signal} (STOP, CONT) to the node's process. */
    void signal(int i, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process[i].pid())).inheritIO().start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IllegalStateException("kill -" + signal + " failed for node " + i);
        }
    }

    /** Writes a thread dump of node {@code i} (jstack) next to its logs, for a failure report; returns its path. */
    Path threadDump(int i, String why) throws IOException, InterruptedException {
        Path out = workDir.resolve("n" + (i + 1)).resolve("threads-" + why + "-" + System.currentTimeMillis() + ".txt");
        String jstack = Path.of(System.getProperty("java.home"), "bin", "jstack").toString();
        Process p = new ProcessBuilder(jstack, "-l", Long.toString(process[i].pid())).redirectErrorStream(true)
                .redirectOutput(out.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        return out;
    }

    /** Like {@link #awaitLeader(long)}, ignoring node {@code not} (e.g. a stopped process). */
    int awaitLeaderOtherThan(int not, long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            for (int i = 0; i < NODES; i++) {
                if (i != not && process[i] != null && process[i].isAlive() && httpStatus(i, "/ready") == 200) {
                    return i;
                }
            }
            Thread.sleep(20);
        }
        return -1;
    }

    /** Deletes a (stopped) node's data and Raft folders: a replaced disk. */
    void wipe(int i) throws IOException {
        if (process[i] != null && process[i].isAlive()) {
            throw new IllegalStateException("wipe a running node");
        }
        for (String folder : List.of("data", "raft")) {
            Path p = folders[i].resolve(folder);
            if (Files.exists(p)) {
                try (var walk = Files.walk(p)) {
                    for (Path f : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        Files.delete(f);
                    }
                }
            }
        }
    }

    /** The index of the node whose /ready says 200, waiting up to {@code millis}; -1 if none. */
    int awaitLeader(long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            for (int i = 0; i < NODES; i++) {
                if (process[i] != null && process[i].isAlive() && httpStatus(i, "/ready") == 200) {
                    return i;
                }
            }
            Thread.sleep(20);
        }
        return -1;
    }

    /** The node's {@code /cluster} status text, or an empty string. */
    String status(int i) {
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create("http://" + hosts.get(i) + ":" + metrics[i] + "/cluster").toURL().openConnection();
            c.setConnectTimeout(1_000);
            c.setReadTimeout(2_000);
            try (var in = c.getInputStream()) {
                return new String(in.readAllBytes());
            }
        } catch (IOException e) {
            return "";
        }
    }

    /** Reads the applied index from {@code /cluster}, or -1. */
    long appliedIndex(int i) {
        for (String line : status(i).split("\n")) {
            if (line.startsWith("applied_index ")) {
                return Long.parseLong(line.substring("applied_index ".length()).trim());
            }
        }
        return -1;
    }

    /** The HTTP status of {@code path} on node i's metrics port, or -1 if it does not answer. */
    int httpStatus(int i, String path) {
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create("http://" + hosts.get(i) + ":" + metrics[i] + path).toURL().openConnection();
            c.setConnectTimeout(500);
            c.setReadTimeout(1_000);
            int code = c.getResponseCode();
            c.disconnect();
            return code;
        } catch (IOException e) {
            return -1;
        }
    }

    String uri(int i) {
        return "tcp://" + hosts.get(i) + ":" + mqtt[i];
    }

    String host(int i) {
        return hosts.get(i);
    }

    int mqttPort(int i) {
        return mqtt[i];
    }

    boolean isAlive(int i) {
        return process[i] != null && process[i].isAlive();
    }

    /** SIGTERM to every node; returns their exit statuses. */
    List<Integer> terminateAll() throws InterruptedException {
        List<Integer> out = new ArrayList<>();
        for (Process p : process) {
            if (p != null && p.isAlive()) {
                p.destroy();
            }
        }
        for (Process p : process) {
            if (p == null) {
                continue;
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(30, TimeUnit.SECONDS);
            }
            out.add(p.exitValue());
        }
        return out;
    }

    private void killAllQuietly() {
        for (Process p : process) {
            if (p != null) {
                p.destroyForcibly();
            }
        }
    }

    @Override
    public void close() {
        killAllQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException ignored) {
            // the JVM is shutting down: the hook runs anyway
        }
    }

    private static int freePort() throws IOException {
        return io.durablemq.engine.support.ListenPorts.free(); // below the ephemeral range: see ListenPorts
    }
}
