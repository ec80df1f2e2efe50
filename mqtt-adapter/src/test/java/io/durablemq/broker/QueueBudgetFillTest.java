package io.durablemq.broker;

import io.durablemq.engine.guard.AdmissionSettings;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Writer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The issue 14 fill with real clients, scaled down: persistent subscribers go offline, then
 * {@code mosquitto_pub -q 1 -l} publishers (MQTT 3.1.1 and MQTT 5) fill their queues past a small
 * broker-wide budget. Past it: the MQTT 5 publisher gets PUBACK 0x97 (mosquitto_pub prints
 * "Publish N failed: Quota exceeded"), the 3.1.1 publishers are closed unacknowledged and keep
 * reconnecting and resending, refusals are counted, /ready answers 503. Then the subscribers
 * come back: every message a publisher got a success PUBACK for reaches every subscriber, none
 * refused with 0x97 does (refused means not stored), the broker accepts again by itself, and the
 * 3.1.1 publishers finish with every line acknowledged. Skipped without mosquitto-clients.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class QueueBudgetFillTest {
    private static final int SUBSCRIBERS = 3;
    private static final int LINES_V3 = 400;
    private static final int LINES_V5 = 300;
    private static final long BUDGET = 256 * 1024;
    private static final Pattern PUBACK = Pattern.compile("received PUBACK \\(Mid: (\\d+), RC:(\\d+)\\)");

    @TempDir
    Path data;

    @BeforeAll
    static void needsMosquittoClients() {
        assumeTrue(onPath("mosquitto_pub") && onPath("mosquitto_sub") && onPath("stdbuf"),
                "mosquitto-clients (and stdbuf) not installed");
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (new File(d, tool).canExecute()) {
                return true;
            }
        }
        return false;
    }

    /**
     * One publisher process: its lines are {@code name-NNNNN-padding} (256 bytes), line i has MQTT message id i.
     * {@code log} is mosquitto_pub's stdout (the {@code -d} packet trace), {@code errors} its stderr ("Publish N
     * failed: ..."). They go to separate files: stdout to a file is block-buffered and flushed in 4 KiB pieces cut
     * mid-line, so a stderr line written in between splits a "received PUBACK" line and the trace loses it.
     */
    private record Publisher(String name, boolean v5, int lines, Process process, Path log, Path errors) {
        String line(int i) {
            String head = name + "-" + String.format("%05d", i) + "-";
            return head + "x".repeat(256 - head.length());
        }

        /** Message ids answered with a PUBACK, split by success (RC 0 or 16) and refusal (anything else). */
        void acks(Set<String> acknowledged, Set<String> refused) throws Exception {
            Matcher m = PUBACK.matcher(Files.readString(log));
            while (m.find()) {
                int rc = Integer.parseInt(m.group(2));
                (rc == 0 || rc == 16 ? acknowledged : refused).add(line(Integer.parseInt(m.group(1))));
            }
        }
    }

    private Publisher startPublisher(int port, String name, boolean v5, int lines) throws Exception {
        Path log = data.resolveSibling(data.getFileName() + "-" + name + ".log");
        Path errors = data.resolveSibling(data.getFileName() + "-" + name + ".err");
        List<String> cmd = new ArrayList<>(List.of("mosquitto_pub", "-h", "127.0.0.1", "-p", Integer.toString(port),
                "-i", name, "-q", "1", "-t", "fill/" + name, "-l", "-d"));
        if (v5) {
            cmd.addAll(List.of("-V", "5"));
        }
        Process p = new ProcessBuilder(cmd).redirectOutput(log.toFile()).redirectError(errors.toFile()).start();
        Publisher pub = new Publisher(name, v5, lines, p, log, errors);
        try (Writer w = new java.io.OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8)) {
            for (int i = 1; i <= lines; i++) {
                w.write(pub.line(i));
                w.write('\n');
            }
        } // EOF: mosquitto_pub finishes once every line is acknowledged
        return pub;
    }

    private static void run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "finished: " + command);
        assertEquals(0, p.exitValue(), command + ":\n" + out);
    }

    private static int readyStatus(BrokerServer broker) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + broker.metricsPort() + "/ready")).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static double refused(BrokerServer broker, String reason) {
        var c = broker.meterRegistry().find("durablemq.publishes.refused").tag("reason", reason).counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void publishesPastTheBudgetAreRefusedNothingAcknowledgedIsLostAndDrainingResumes() throws Exception {
        BrokerServer broker = TestBrokers.start(TestBrokers.config(data).toBuilder()
                .metricsPort(TestBrokers.freePort())
                .admission(new AdmissionSettings(BUDGET, AdmissionSettings.HEAP_GUARD_OFF)).build());
        List<Process> started = new ArrayList<>();
        try {
            int port = broker.mqttPort();
            for (int s = 0; s < SUBSCRIBERS; s++) { // persistent sessions, offline after the SUBACK
                run(List.of("mosquitto_sub", "-h", "127.0.0.1", "-p", Integer.toString(port), "-c", "-i", "fill-sub-" + s,
                        "-q", "1", "-t", "fill/#", "-E"));
            }
            List<Publisher> pubs = new ArrayList<>();
            pubs.add(startPublisher(port, "v3a", false, LINES_V3));
            pubs.add(startPublisher(port, "v3b", false, LINES_V3));
            pubs.forEach(p -> started.add(p.process()));

            long deadline = System.currentTimeMillis() + 60_000;
            while (refused(broker, "budget") == 0 && System.currentTimeMillis() < deadline) {
                Thread.sleep(100);
            }
            assertTrue(refused(broker, "budget") > 0, "the fill went past the budget");
            assertEquals(503, readyStatus(broker), "/ready refuses while the broker refuses publishes");

            // An MQTT 5 publisher now: every publish is answered, past the budget with 0x97.
            Publisher v5 = startPublisher(port, "v5", true, LINES_V5);
            started.add(v5.process());
            assertTrue(v5.process().waitFor(60, TimeUnit.SECONDS), "the MQTT 5 publisher got an answer to each publish");
            Set<String> v5Acked = new HashSet<>();
            Set<String> v5Refused = new HashSet<>();
            v5.acks(v5Acked, v5Refused);
            assertEquals(LINES_V5, v5Acked.size() + v5Refused.size(), "one PUBACK per publish, trace in " + v5.log());
            assertTrue(v5Refused.size() > 0, "refused with 0x97");
            assertTrue(Files.readString(v5.errors()).contains("failed: Quota exceeded"), "mosquitto_pub reports the quota");
            for (Publisher p : pubs) {
                assertTrue(p.process().isAlive(), p.name() + " keeps resending while refused (3.1.1: closed, no ack)");
            }

            // The subscribers come back and drain; the broker accepts again and the 3.1.1 publishers finish.
            List<Set<String>> received = new ArrayList<>();
            for (int s = 0; s < SUBSCRIBERS; s++) {
                Set<String> got = ConcurrentHashMap.newKeySet();
                received.add(got);
                Process sub = new ProcessBuilder("stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
                        Integer.toString(port), "-c", "-i", "fill-sub-" + s, "-q", "1", "-t", "fill/#")
                        .redirectErrorStream(true).start();
                started.add(sub);
                Thread reader = new Thread(() -> {
                    try (BufferedReader r = new BufferedReader(new InputStreamReader(sub.getInputStream(), StandardCharsets.UTF_8))) {
                        String line;
                        while ((line = r.readLine()) != null) {
                            got.add(line);
                        }
                    } catch (java.io.IOException ended) {
                        // the process was stopped
                    }
                }, "fill-sub-" + s);
                reader.setDaemon(true);
                reader.start();
            }
            Set<String> acknowledged = new HashSet<>(v5Acked);
            for (Publisher p : pubs) {
                assertTrue(p.process().waitFor(120, TimeUnit.SECONDS), p.name() + " finished after the drain");
                assertEquals(0, p.process().exitValue(), p.name());
                Set<String> refusedV3 = new HashSet<>();
                p.acks(acknowledged, refusedV3);
                assertEquals(Set.of(), refusedV3, "3.1.1 has no negative ack");
            }
            assertEquals(2 * LINES_V3 + v5Acked.size(), acknowledged.size(), "every 3.1.1 line acknowledged in the end");

            deadline = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < deadline && received.stream().anyMatch(g -> !g.containsAll(acknowledged))) {
                Thread.sleep(200);
            }
            for (int s = 0; s < SUBSCRIBERS; s++) {
                Set<String> missing = new HashSet<>(acknowledged);
                missing.removeAll(received.get(s));
                assertEquals(Set.of(), missing, "fill-sub-" + s + ": acknowledged but not delivered");
                Set<String> refusedButDelivered = new HashSet<>(v5Refused);
                refusedButDelivered.retainAll(received.get(s));
                assertEquals(Set.of(), refusedButDelivered, "fill-sub-" + s + ": refused with 0x97 but delivered");
            }
            assertEquals(200, readyStatus(broker), "ready again after the drain");
            System.out.printf("fill: budget %d bytes, refused %.0f publishes, %d acknowledged and delivered to %d"
                            + " subscribers, MQTT 5: %d acknowledged, %d refused (0x97)%n", BUDGET,
                    refused(broker, "budget"), acknowledged.size(), SUBSCRIBERS, v5Acked.size(), v5Refused.size());
        } finally {
            for (Process p : started) {
                p.destroy();
            }
            for (Process p : started) {
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
            broker.close();
        }
    }
}
