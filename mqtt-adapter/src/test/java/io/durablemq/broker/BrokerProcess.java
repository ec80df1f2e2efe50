package io.durablemq.broker;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The broker in a child JVM ({@code java -cp <test classpath> io.durablemq.broker.Main --config FILE}). */
final class BrokerProcess implements AutoCloseable {
    final Process process;
    final int port;
    final Path log;

    private BrokerProcess(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /** Starts a broker on a free port with its store in {@code dataDir}, and waits until it accepts connections. */
    static BrokerProcess start(Path workDir, Path dataDir, String name) throws Exception {
        return start(workDir, dataDir, name, List.of());
    }

    /** True when coreutils' env can reset a signal's disposition for the child (coreutils 8.31 and later). */
    private static final boolean RESETS_SIGHUP = envResetsSighup();

    private static boolean envResetsSighup() {
        try {
            Process p = new ProcessBuilder("env", "--default-signal=HUP", "true").redirectErrorStream(true).start();
            p.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** As {@link #start(Path, Path, String)}, with extra JVM options (e.g. {@code -Djava.io.tmpdir=...}). */
    static BrokerProcess start(Path workDir, Path dataDir, String name, List<String> jvmOptions) throws Exception {
        return start(workDir, dataDir, name, jvmOptions, List.of("host 127.0.0.1"));
    }

    /** As {@link #start(Path, Path, String, List)}, with {@code configLines} (e.g. host, password_file) added to the config file. */
    static BrokerProcess start(Path workDir, Path dataDir, String name, List<String> jvmOptions,
                               List<String> configLines) throws Exception {
        int port = TestBrokers.freePort();
        Path config = workDir.resolve(name + ".conf");
        List<String> lines = new java.util.ArrayList<>(List.of(
                "# written by BrokerProcess",
                "port " + port,
                "data_path " + dataDir.toAbsolutePath(),
                "metrics_endpoint_port 0"));
        lines.addAll(configLines);
        Files.write(config, lines);
        Path log = workDir.resolve(name + ".log");
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new java.util.ArrayList<>();
        // A test run started under nohup (or any parent ignoring SIGHUP) passes that to its children, and
        // a JVM keeps an ignored SIGHUP ignored: reset it to the default, as a service manager starts the broker.
        if (RESETS_SIGHUP) {
            command.addAll(List.of("env", "--default-signal=HUP"));
        }
        command.addAll(List.of(java, "-Xmx256m"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", classpath, "io.durablemq.broker.Main", "--config", config.toString()));
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        BrokerProcess bp = new BrokerProcess(p, port, log);
        bp.awaitListening(60_000);
        return bp;
    }

    private void awaitListening(long millis) throws Exception {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("broker process exited with " + process.exitValue() + ":\n" + output());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException notYet) {
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException("broker process did not listen on " + port + " in time:\n" + output());
    }

    String uri() {
        return "tcp://127.0.0.1:" + port;
    }

    String output() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** SIGKILL (on Linux {@link Process#destroyForcibly()} sends SIGKILL); returns the exit status. */
    int kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("process survived SIGKILL");
        }
        return process.exitValue();
    }

    /** Sends a signal by name ({@code HUP}, ...) with {@code kill}. */
    void signal(String name) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IllegalStateException("kill -" + name + " " + process.pid() + " failed");
        }
    }

    /** SIGTERM ({@link Process#destroy()}); returns the exit status. */
    int terminate() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException("broker did not stop on SIGTERM within 30 s:\n" + output());
        }
        return process.exitValue();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
