package io.durablemq.engine.queue;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGKILLs a process filling paged queues ({@link QueueFillDriver}) at random moments, eight
 * times, alternating {@code os} and {@code fsync}; after each kill the stored queue counters must
 * equal the stored entries ({@code durablemq verify}'s invariant check, which compares every
 * version-2 session record with its queue) and the engine must open with every acknowledged
 * message still queued for each offline session.
 */
@Timeout(600)
class QueueCrashTest {
    private static final int KILLS = 8;

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void countersStayExactAndNothingAcknowledgedIsLostAcrossSigkills() throws Exception {
        Path data = dir.resolve("store");
        Path ackLog = dir.resolve("acks.log");
        Files.createFile(ackLog);
        Random rnd = new Random(7);
        long next = 1;
        for (int i = 0; i < KILLS; i++) {
            String durability = i % 2 == 0 ? "os" : "fsync";
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process p = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                    QueueFillDriver.class.getName(), data.toString(), durability, Long.toString(next), ackLog.toString())
                    .redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("child.err").toFile()))
                    .start();
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line;
            int lines = 0;
            while ((line = r.readLine()) != null && !line.equals("READY") && lines++ < 1000) {
                // the child's log lines before READY
            }
            assertEquals("READY", line, "child started (see " + dir.resolve("child.err") + ")");
            Thread drain = new Thread(() -> {
                try {
                    while (r.readLine() != null) {
                        // keep the pipe empty so the child never blocks on its log
                    }
                } catch (java.io.IOException ignored) {
                    // the child was killed
                }
            });
            drain.setDaemon(true);
            drain.start();
            Thread.sleep(300 + rnd.nextInt(1500));
            p.destroyForcibly();
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            drain.join(10_000);
            next += 10_000_000; // message numbers of each run are distinct

            VerifyReport report = StoreVerifier.verify(data);
            assertTrue(report.ok(), "after kill " + (i + 1) + ": " + report.toText());
            // The stored reference counts (fan-out to four sessions) are checked by verify against the
            // entries: make sure there were some to check.
            if (report.records().get(io.durablemq.engine.store.StoreColumn.QUEUES) > 0) {
                assertTrue(report.records().get(io.durablemq.engine.store.StoreColumn.REFCOUNTS) > 0, report.toText());
            }
            Set<String> acked = new HashSet<>(Files.readAllLines(ackLog));
            try (Engine engine = Engine.open(EngineConfig.defaults(data).withDurability(Durability.FSYNC), new SimpleMeterRegistry())) {
                for (String id : QueueFillDriver.OFFLINE) {
                    long queued = engine.session(id).queuedMessages();
                    // Each offline queue holds every acknowledged message (and maybe some whose answer the kill cut off).
                    assertTrue(queued >= acked.size(), id + " holds " + queued + " < " + acked.size() + " acknowledged");
                }
                List<Long> all = List.of(engine.session("off-1").queuedBytes(), engine.session("off-2").queuedBytes(),
                        engine.session("off-3").queuedBytes());
                assertEquals(1, new HashSet<>(all).size(), "the three offline queues got the same messages: " + all);
                // The check recovery defers, on the recovered store: counts, orphans, counters.
                var checked = engine.awaitBackgroundCheck(Duration.ofSeconds(60));
                assertEquals(io.durablemq.engine.check.BackgroundCheck.State.PASSED, checked.state(), String.valueOf(checked));
            }
        }
        System.out.printf("queue crash test: %d kills, %d acknowledged publishes%n", KILLS,
                Files.readAllLines(ackLog).size());
    }
}
