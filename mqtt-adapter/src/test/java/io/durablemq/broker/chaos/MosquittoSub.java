package io.durablemq.broker.chaos;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's {@code mosquitto_sub -c} (persistent session) as a subscriber; its output goes to a
 * file, never a pipe, line-buffered by {@code stdbuf -oL}, so every line it printed stays readable
 * whatever happens to the process. Restarted with the same client id for every broker life.
 */
final class MosquittoSub {
    /** {@code -F "%q %t %p"}; the {@code -d} lines ("Client mq-all received PUBLISH ...") stay in the file as evidence. */
    private static final java.util.regex.Pattern MESSAGE_LINE = java.util.regex.Pattern.compile("([012]) (\\S+) (.*)");

    final String name;
    final String filter;
    final int qos;
    private final Path out;
    private Process process;
    private long consumed;
    private int starts;

    MosquittoSub(String name, String filter, int qos, Path workDir, Ledger ledger) {
        this.name = name;
        this.filter = filter;
        this.qos = qos;
        this.out = workDir.resolve(name + ".out");
        ledger.addSession(name, filter, qos, null);
    }

    void start(int port) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1",
                "-p", Integer.toString(port), "-c", "-i", name, "-q", Integer.toString(qos), "-t", filter,
                "-F", "%q %t %p", "-d"));
        starts++;
        process = new ProcessBuilder(cmd)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(out.resolveSibling(name + ".err").toFile()))
                .start();
    }

    boolean isRunning() {
        return process != null && process.isAlive();
    }

    int starts() {
        return starts;
    }

    /** SIGTERM: mosquitto_sub disconnects and exits; the session stays (clean session off). */
    void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                kill();
            }
        }
    }

    /**
     * SIGKILL, for when the broker is dead: mosquitto_sub then ignores SIGTERM (it keeps trying to
     * reconnect). Nothing it printed is lost: its output is a line-buffered file.
     */
    void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Feeds the complete lines printed since the last call to the ledger. */
    void collect(Ledger ledger) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(out.toFile(), "r")) {
            long length = f.length();
            if (length <= consumed) {
                return;
            }
            byte[] bytes = new byte[(int) (length - consumed)];
            f.seek(consumed);
            f.readFully(bytes);
            int lineStart = 0;
            for (int i = 0; i < bytes.length; i++) {
                if (bytes[i] == '\n') {
                    String line = new String(bytes, lineStart, i - lineStart, StandardCharsets.UTF_8);
                    lineStart = i + 1;
                    java.util.regex.Matcher m = MESSAGE_LINE.matcher(line);
                    if (m.matches()) {
                        ledger.delivered(name, m.group(2), m.group(3).getBytes(StandardCharsets.UTF_8),
                                Integer.parseInt(m.group(1)));
                    } else if (!line.startsWith("Client ") && !line.startsWith("Subscribed")) {
                        ledger.anomaly(name + " printed an unexpected line: " + line);
                    }
                }
            }
            consumed += lineStart;
        } catch (java.io.FileNotFoundException notYet) {
            // nothing printed yet
        }
    }
}
