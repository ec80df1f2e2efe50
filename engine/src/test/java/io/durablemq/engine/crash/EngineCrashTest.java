package io.durablemq.engine.crash;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Kills a process driving the engine with SIGKILL at random moments, restarts it on the same
 * store, and checks from what the child reported (as its clients would have seen it) that:
 * every acknowledged QoS 1/2 message reaches both subscribers, no QoS 2 message reaches the
 * QoS 2 subscriber twice (with that subscriber's receive state kept here, as a real client
 * keeps it), and every recovery finds the store consistent (recovery refuses any broken invariant).
 */
class EngineCrashTest {
    /** The engine's partitions in the child (CrashDriver's -Ddurablemq.test.partitions). */
    private int partitions = 1;

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    /** The publishers' and subscribers' client-side state, which outlives the broker process. */
    private final Map<String, String[]> sentNotAnswered = new LinkedHashMap<>(); // "pub seq" -> [pub, seq, qos, pid]
    private final Set<String> acknowledged = new HashSet<>();
    private final Set<String> deliveredSub1 = new HashSet<>();
    private final Set<String> deliveredSub2 = new HashSet<>();
    private final Set<Integer> sub1ReceivedIds = new HashSet<>();
    private int qos1Duplicates;
    private long maxSeq;
    private final List<String> recoveries = new ArrayList<>();
    private final List<String> firstLines = new ArrayList<>();
    private volatile AssertionError failure;
    private int started;
    private final List<String> childLog = new ArrayList<>();

    /** One partition (the engine's one lock) and four (sessions spread over partition locks; fewer kills: time). */
    @ParameterizedTest(name = "{0} partitions, {1} kills")
    @CsvSource({"1, 24", "4, 12"})
    void sigkillLosesNothingAcknowledgedAndNeverDuplicatesQos2(int partitionCount, int kills) throws Exception {
        partitions = partitionCount;
        Path data = dir.resolve("store");
        Random rnd = new Random(42);
        long start = System.currentTimeMillis();
        for (int i = 0; i < kills; i++) {
            String durability = i % 2 == 0 ? "os" : "fsync";
            Process p = startChild(data, durability, "run");
            CountDownLatch ready = new CountDownLatch(1);
            Thread reader = readOutput(p, ready);
            assertTrue(ready.await(120, TimeUnit.SECONDS), "child started: " + firstLines + " (see " + dir.resolve("child.err") + ")");
            Thread.sleep(50 + rnd.nextInt(700));
            p.destroyForcibly(); // SIGKILL on Linux
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            reader.join(120_000);
            assertEquals(137, p.exitValue(), "killed by SIGKILL");
            replayClientLog();
            if (failure != null) {
                throw failure;
            }
        }
        Process p = startChild(data, "fsync", "drain");
        Thread reader = readOutput(p, new CountDownLatch(1));
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "drain finished");
        reader.join(120_000);
        assertEquals(0, p.exitValue());
        replayClientLog();
        if (failure != null) {
            throw failure;
        }

        // Recovery refuses a store with any broken invariant (an orphan body, an entry without
        // its body, ...), so every start having recovered means every kill left it consistent.
        assertEquals(kills + 1, recoveries.size(), "every start recovered a consistent store: " + recoveries);
        assertTrue(acknowledged.size() > 500, "enough traffic to mean something: " + acknowledged.size());
        for (String m : acknowledged) {
            assertTrue(deliveredSub1.contains(m), "acknowledged " + m + " never reached sub-1");
            assertTrue(deliveredSub2.contains(m), "acknowledged " + m + " never reached sub-2");
        }
        System.out.printf("crash test (%d partitions): %d kills, %d messages acknowledged, %d QoS 1 duplicates, %d s%n",
                partitions, kills, acknowledged.size(), qos1Duplicates, (System.currentTimeMillis() - start) / 1000);
    }

    private Process startChild(Path data, String durability, String mode) throws Exception {
        Path resend = dir.resolve("resend.txt");
        List<String> lines = new ArrayList<>();
        for (String[] f : sentNotAnswered.values()) {
            lines.add(String.join(" ", f));
        }
        Files.write(resend, lines);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-Ddurablemq.test.partitions=" + partitions, "-cp", System.getProperty("java.class.path"),
                CrashDriver.class.getName(), data.toString(), durability, mode, resend.toString(),
                Long.toString(maxSeq + 1), clientLog(started + 1).toString());
        pb.redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("child.err").toFile()));
        return pb.start();
    }

    private Path clientLog(int n) {
        return dir.resolve("client-" + n + ".log");
    }

    /** Waits for READY on the child's stdout; the events themselves are read from its client log. */
    private Thread readOutput(Process p, CountDownLatch ready) {
        started++;
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.equals("READY")) {
                        ready.countDown();
                    } else if (line.contains(" WARN ") || line.contains(" ERROR ")) {
                        synchronized (this) {
                            childLog.add("child" + started + ": " + line);
                        }
                    }
                }
            } catch (Exception e) {
                // the process was killed
            }
        });
        t.start();
        return t;
    }

    /** Replays the dead child's client log, in order, into the clients' state. */
    private void replayClientLog() throws Exception {
        for (String line : Files.readAllLines(clientLog(started))) {
            try {
                handle(line);
            } catch (AssertionError e) {
                if (failure == null) {
                    failure = e;
                }
            } catch (RuntimeException e) {
                // a line cut short by the kill: the client never acted on it
            }
        }
    }

    private final Map<Integer, List<String>> sub1Trace = new HashMap<>();
    private int child;

    private synchronized void handle(String line) {
        if (line.startsWith("READY")) {
            child++;
        }
        if ((line.startsWith("DELIVER sub-1") || line.startsWith("PUBREL sub-1"))) {
            String[] g = line.split(" ");
            int pid = Integer.parseInt(line.startsWith("DELIVER") ? g[4] : g[2]);
            sub1Trace.computeIfAbsent(pid, k -> new ArrayList<>()).add("child" + child + ": " + line);
        }
        if (firstLines.size() < 8) {
            firstLines.add(line);
        }
        String[] f = line.split(" ");
        switch (f[0]) {
            case "RECOVERED" -> recoveries.add(line);
            case "INFLIGHT" -> childLog.add("child" + child + " recovered: " + line + " client holds " + sub1ReceivedIds);
            case "SENT" -> {
                sentNotAnswered.put(f[1] + " " + f[2], new String[]{f[1], f[2], f[3], f[4], "PUBLISH"});
                maxSeq = Math.max(maxSeq, Long.parseLong(f[2]));
            }
            case "ACK" -> {
                acknowledged.add(f[1] + ":" + f[2]);
                String key = f[1] + " " + f[2];
                if (f[3].equals("1")) {
                    sentNotAnswered.remove(key);
                } else if (sentNotAnswered.containsKey(key)) {
                    // PUBREC received: from now on the client resends only PUBREL, never the PUBLISH.
                    String[] s = sentNotAnswered.get(key);
                    sentNotAnswered.put(key, new String[]{s[0], s[1], s[2], s[3], "PUBREL"});
                }
            }
            case "RELEASED" -> sentNotAnswered.remove(f[1] + " " + f[2]);
            case "DELIVER" -> deliver(f[1], f[2], Integer.parseInt(f[3]), Integer.parseInt(f[4]), Boolean.parseBoolean(f[5]));
            case "PUBREL" -> {
                if (f[1].equals("sub-1")) {
                    sub1ReceivedIds.remove(Integer.parseInt(f[2]));
                }
            }
            case "READY", "DRAINED" -> {
            }
            default -> {
            }
        }
    }

    private void deliver(String sub, String msg, int qos, int packetId, boolean dup) {
        Set<String> delivered = sub.equals("sub-1") ? deliveredSub1 : deliveredSub2;
        if (qos == 2) {
            if (!sub1ReceivedIds.add(packetId)) {
                if (!dup) {
                    fail("packet id " + packetId + " reused for " + msg + " before PUBREL, without DUP: " + sub1Trace.get(packetId)
                            + " child warnings: " + childLog);
                }
                return; // a resend the client recognises: not a new delivery
            }
            if (!delivered.add(msg)) {
                fail("QoS 2 message " + msg + " delivered twice to " + sub);
            }
        } else if (!delivered.add(msg)) {
            qos1Duplicates++;
        }
    }
}
