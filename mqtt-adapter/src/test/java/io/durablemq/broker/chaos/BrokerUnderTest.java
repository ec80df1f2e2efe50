package io.durablemq.broker.chaos;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The broker as a user runs it: {@code java -jar durablemq-broker.jar --config FILE}, its own OS
 * process, on a free loopback port with one data folder for all its lives. Each start writes its
 * log to its own file (a file, not a pipe: a killed process's last lines stay readable).
 */
final class BrokerUnderTest implements AutoCloseable {
    private static final Pattern RECOVERED = Pattern.compile("recovered RecoveryReport\\[(.*)] in (\\d+) ms");

    private final Path jar;
    private final Path workDir;
    private final Path dataDir;
    private final String durability;
    private int port;
    private volatile Process process;
    private Path currentLog;
    private int starts;
    private int portChanges;
    private final List<Long> recoveryMillis = new ArrayList<>();
    private final List<String> recoveryReports = new ArrayList<>();

    /** Kills a running broker if the test JVM itself is stopped (a child process would outlive it). */
    private final Thread reaper = new Thread(() -> {
        Process p = process;
        if (p != null) {
            p.destroyForcibly();
        }
    }, "chaos-broker-reaper");

    BrokerUnderTest(Path jar, Path workDir, String durability) {
        this(jar, workDir, workDir.resolve("data"), durability);
    }

    /** With the data folder elsewhere than {@code workDir/data} (e.g. on a LazyFS mount). */
    BrokerUnderTest(Path jar, Path workDir, Path dataDir, String durability) {
        Runtime.getRuntime().addShutdownHook(reaper);
        this.jar = jar;
        this.workDir = workDir;
        this.dataDir = dataDir;
        this.durability = durability;
    }

    /** The jar under test, from the system property failsafe sets (see mqtt-adapter/pom.xml). */
    static Path brokerJar() {
        String p = System.getProperty("chaos.brokerJar");
        if (p == null) {
            throw new IllegalStateException("system property chaos.brokerJar is not set: run through "
                    + "`mvn -pl mqtt-adapter -am verify` (failsafe) or pass -Dchaos.brokerJar=.../durablemq-broker.jar");
        }
        Path jar = Path.of(p);
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("broker jar missing: " + jar + " (run `package` first)");
        }
        return jar;
    }

    /**
     * Starts the broker and waits until it accepts connections. It keeps its port across lives when
     * it can (clients that reconnect by themselves, like mosquitto_sub, need that); when another
     * process took the port meanwhile it moves to a free one and {@link #portChanges()} counts it.
     */
    void start() throws Exception {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("already running");
        }
        if (port == 0) {
            port = freePort();
        } else if (!portFree(port)) {
            port = freePort();
            portChanges++;
        }
        try {
            launch();
        } catch (IllegalStateException e) {
            if (process.isAlive() || !log().contains("Address already in use")) {
                throw e;
            }
            port = freePort(); // lost a race for the port: once more on another one
            portChanges++;
            launch();
        }
        recoveryMillis.add(awaitRecoveryLine());
    }

    int portChanges() {
        return portChanges;
    }

    private void launch() throws Exception {
        starts++;
        Path config = workDir.resolve("broker.conf");
        Files.writeString(config, String.join("\n",
                "# written by the chaos harness",
                "host 127.0.0.1",
                "port " + port,
                "data_path " + dataDir.toAbsolutePath(),
                "durability " + durability,
                "metrics_endpoint_port 0",
                ""));
        currentLog = workDir.resolve("broker-" + starts + ".log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        process = new ProcessBuilder(List.of(java, "-Xmx384m", "-jar", jar.toString(), "--config", config.toString()))
                .redirectErrorStream(true)
                .redirectOutput(currentLog.toFile())
                .start();
        awaitListening(Long.getLong("chaos.listen.timeout.ms", 90_000));
    }

    private void awaitListening(long millis) throws Exception {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("broker exited with " + process.exitValue() + ":\n" + log());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException notYet) {
                Thread.sleep(20);
            }
        }
        throw new IllegalStateException("broker did not listen on " + port + " in time:\n" + log());
    }

    /** The engine logs "recovered RecoveryReport[...] in N ms" before the listeners open. */
    private long awaitRecoveryLine() throws Exception {
        for (int i = 0; i < 100; i++) {
            Matcher m = RECOVERED.matcher(log());
            if (m.find()) {
                recoveryReports.add(m.group(1));
                return Long.parseLong(m.group(2));
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("no recovery line in " + currentLog + ":\n" + log());
    }

    /** SIGKILL ({@link Process#destroyForcibly()} on Linux); returns the exit status (137 expected). */
    int kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("broker survived SIGKILL");
        }
        return process.exitValue();
    }

    /** SIGTERM; returns the exit status (0 expected after a clean shutdown). */
    int terminate() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException("broker did not stop on SIGTERM within 60 s:\n" + log());
        }
        return process.exitValue();
    }

    boolean isAlive() {
        return process != null && process.isAlive();
    }

    int port() {
        return port;
    }

    String uri() {
        return "tcp://127.0.0.1:" + port;
    }

    int starts() {
        return starts;
    }

    /** Recovery time of every start, in start order (the first is the empty store). */
    List<Long> recoveryMillis() {
        return List.copyOf(recoveryMillis);
    }

    List<String> recoveryReports() {
        return List.copyOf(recoveryReports);
    }

    Path dataDir() {
        return dataDir;
    }

    Path currentLog() {
        return currentLog;
    }

    String log() {
        try {
            return currentLog == null ? "" : Files.readString(currentLog);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** Lines with WARN or ERROR over all lives of the broker, for the report. */
    List<String> warnings() throws IOException {
        List<String> out = new ArrayList<>();
        for (int i = 1; i <= starts; i++) {
            Path f = workDir.resolve("broker-" + i + ".log");
            if (Files.exists(f)) {
                for (String line : Files.readAllLines(f)) {
                    if (line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("Exception")) {
                        out.add("broker-" + i + ": " + line);
                    }
                }
            }
        }
        return out;
    }

    /** The first ERROR line of a log (or its last line), to say why a broker did not start. */
    static String firstErrorLine(String log) {
        String last = "";
        for (String line : log.split("\n")) {
            if (line.contains(" ERROR ")) {
                return line.strip();
            }
            if (!line.isBlank()) {
                last = line.strip();
            }
        }
        return last;
    }

    static OptionalLong parseRecovery(String line) {
        Matcher m = RECOVERED.matcher(line);
        return m.find() ? OptionalLong.of(Long.parseLong(m.group(2))) : OptionalLong.empty();
    }

    /** As the broker binds: with SO_REUSEADDR, so connections of the killed life in TIME_WAIT do not count. */
    private static boolean portFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static int freePort() throws IOException {
        return io.durablemq.engine.support.ListenPorts.free(); // below the ephemeral range: see ListenPorts
    }

    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or about to
        }
    }
}
