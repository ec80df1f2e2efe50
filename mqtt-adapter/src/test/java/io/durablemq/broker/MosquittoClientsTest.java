package io.durablemq.broker;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Debian's mosquitto_pub / mosquitto_sub against the broker: QoS 1 and 2 round trips, and a
 * {@code -c} persistent session across a broker restart. .ci/run installs mosquitto-clients;
 * where they are missing this test is skipped.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class MosquittoClientsTest {
    @TempDir
    Path data;

    @BeforeAll
    static void needsMosquittoClients() {
        assumeTrue(onPath("mosquitto_pub") && onPath("mosquitto_sub"), "mosquitto-clients not installed");
    }

    static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (new File(d, tool).canExecute()) {
                return true;
            }
        }
        return false;
    }

    private static List<String> run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "finished: " + command);
        assertEquals(0, p.exitValue(), command + ":\n" + out);
        return out.isEmpty() ? List.of() : List.of(out.split("\n"));
    }

    @Test
    void qos1AndQos2RoundTrip() throws Exception {
        BrokerServer broker = TestBrokers.start(TestBrokers.config(data));
        try {
            String port = Integer.toString(broker.mqttPort());
            List<String> command = new ArrayList<>();
            if (onPath("stdbuf")) {
                // mosquitto_sub's stdout is block-buffered on a pipe; line buffering lets us see the SUBACK live
                command.addAll(List.of("stdbuf", "-oL"));
            }
            command.addAll(List.of("mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-i", "mq-sub",
                    "-t", "rt/#", "-q", "2", "-C", "2", "-v", "-d", "-W", "30"));
            assumeTrue(command.get(0).equals("stdbuf"), "stdbuf (coreutils) needed to follow mosquitto_sub live");
            Process sub = new ProcessBuilder(command).redirectErrorStream(true).start();
            BufferedReader lines = new BufferedReader(new InputStreamReader(sub.getInputStream(), StandardCharsets.UTF_8));
            List<String> seen = new ArrayList<>();
            String line;
            while ((line = lines.readLine()) != null) {
                seen.add(line);
                if (line.contains("SUBACK")) {
                    break;
                }
            }
            assertTrue(seen.stream().anyMatch(l -> l.contains("SUBACK")), "subscribed: " + seen);
            run(List.of("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "mq-pub1", "-q", "1", "-t", "rt/1", "-m", "one"));
            run(List.of("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "mq-pub2", "-q", "2", "-t", "rt/2", "-m", "two"));
            while ((line = lines.readLine()) != null) {
                seen.add(line);
            }
            assertTrue(sub.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, sub.exitValue(), String.join("\n", seen));
            assertTrue(seen.contains("rt/1 one"), String.join("\n", seen));
            assertTrue(seen.contains("rt/2 two"), String.join("\n", seen));
        } finally {
            broker.close();
        }
    }

    @Test
    void persistentSessionQueueSurvivesABrokerRestart() throws Exception {
        BrokerServer broker = TestBrokers.start(TestBrokers.config(data));
        try {
            String port = Integer.toString(broker.mqttPort());
            // -c: clean session off; -E: exit right after the SUBACK
            run(List.of("mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-c", "-i", "mq-persist", "-q", "2",
                    "-t", "persist/#", "-E"));
            run(List.of("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "mq-ppub", "-q", "1", "-t", "persist/a", "-m", "q1"));
            run(List.of("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "mq-ppub", "-q", "2", "-t", "persist/b", "-m", "q2"));
        } finally {
            broker.close();
        }
        broker = TestBrokers.start(TestBrokers.config(data));
        try {
            String port = Integer.toString(broker.mqttPort());
            List<String> got = run(List.of("mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-c", "-i", "mq-persist",
                    "-q", "2", "-t", "persist/#", "-C", "2", "-v", "-W", "20"));
            assertEquals(List.of("persist/a q1", "persist/b q2"), got);
        } finally {
            broker.close();
        }
    }
}
