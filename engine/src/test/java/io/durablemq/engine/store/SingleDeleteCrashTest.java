package io.durablemq.engine.store;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.check.BackgroundCheck;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.support.CompactedStoreCheck;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SingleDelete across SIGKILLs: a child process ({@link SingleDeleteChurnDriver}) runs every path
 * that single-deletes queue entries and bodies (evictions, deliveries, acknowledgements, a queue
 * discarded and started again at sequence 1) and is killed at a random moment, six times on the
 * same store, alternating {@code os} and {@code fsync}. After each kill the engine reopens (the
 * recovery a restarted broker runs) and its background check passes; then, the store closed, every
 * column family is flushed and fully compacted and {@code verify} must pass
 * ({@link CompactedStoreCheck}): a key put twice before its SingleDelete would be visible again by
 * then, as an orphan body or an entry that breaks its queue's counters, and a SingleDelete meeting
 * a Delete would fail the compaction. The next run continues on that store, so keys are put again
 * after the restarts. The mutation check runs the same child with every body put twice
 * ({@code put-bodies-twice}) and the same check must fail.
 */
@Timeout(600)
class SingleDeleteCrashTest {
    private static final int KILLS = 6;

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void noKeyComesBackAndEveryInvariantHoldsAcrossSigkills() throws Exception {
        Path data = dir.resolve("store");
        Random rnd = new Random(17);
        List<String> runs = new ArrayList<>();
        for (int i = 0; i < KILLS; i++) {
            String durability = i % 2 == 0 ? "os" : "fsync";
            long[] progress = runAndKill(data, durability, null, 300 + rnd.nextInt(1500), 0);
            try (Engine engine = Engine.open(EngineConfig.defaults(data).withDurability(Durability.FSYNC), new SimpleMeterRegistry())) {
                var checked = engine.awaitBackgroundCheck(Duration.ofSeconds(60));
                assertEquals(BackgroundCheck.State.PASSED, checked.state(), "after kill " + (i + 1) + ": " + checked);
            }
            VerifyReport report = CompactedStoreCheck.assertNothingCameBack(data);
            runs.add(durability + ": " + progress[0] + " cycles, " + progress[1] + " published, then "
                    + report.records().get(StoreColumn.QUEUES) + " queue entries and "
                    + report.records().get(StoreColumn.MESSAGES) + " bodies");
        }
        System.out.println("single delete crash test: " + KILLS + " kills\n  " + String.join("\n  ", runs));
    }

    /** Mutation check: with every body put a second time before its SingleDelete, the same check fails. */
    @Test
    void theCheckSeesBodiesThatCameBackWhenABodyIsPutTwice() throws Exception {
        Path data = dir.resolve("store");
        // Past the queue limit of "b" (which never reads): from then on every message evicts one and single-deletes its body.
        long[] progress = runAndKill(data, "os", "put-bodies-twice", 500, SingleDeleteChurnDriver.QUEUE_LIMIT + 200);
        assertTrue(progress[1] >= SingleDeleteChurnDriver.QUEUE_LIMIT + 200, "the child published " + progress[1] + " before the kill");
        AssertionError seen = assertThrows(AssertionError.class, () -> CompactedStoreCheck.assertNothingCameBack(data));
        assertTrue(seen.getMessage().contains("message bodies no entry references"), seen.getMessage());
    }

    /**
     * Starts the child, waits for READY, then at least {@code minMillis} and until it printed
     * {@code minPublished} publishes (at most 60 s), and SIGKILLs it. Returns the last cycles and published counts it printed.
     */
    private long[] runAndKill(Path data, String durability, String mutation, long minMillis, long minPublished) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                SingleDeleteChurnDriver.class.getName(), data.toString(), durability));
        if (mutation != null) {
            command.add(mutation);
        }
        Process p = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("child.err").toFile()))
                .start();
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line;
            int lines = 0;
            while ((line = r.readLine()) != null && !line.equals("READY") && lines++ < 1000) {
                // the child's log lines before READY
            }
            assertEquals("READY", line, "child started (see " + dir.resolve("child.err") + ")");
            AtomicLong cycles = new AtomicLong();
            AtomicLong published = new AtomicLong();
            Thread reader = new Thread(() -> {
                try {
                    String l;
                    while ((l = r.readLine()) != null) {
                        if (l.startsWith("PROGRESS ")) {
                            String[] f = l.split(" ");
                            published.set(Long.parseLong(f[2]));
                            cycles.set(Long.parseLong(f[1]));
                        }
                    }
                } catch (java.io.IOException | RuntimeException ignored) {
                    // the child was killed (possibly mid-line)
                }
            });
            reader.setDaemon(true);
            reader.start();
            Thread.sleep(minMillis);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (published.get() < minPublished && System.nanoTime() < deadline && p.isAlive()) {
                Thread.sleep(20);
            }
            assertTrue(p.isAlive(), "the child stopped by itself (see " + dir.resolve("child.err") + ")");
            p.destroyForcibly();
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            reader.join(10_000);
            return new long[]{cycles.get(), published.get()};
        } finally {
            p.destroyForcibly();
        }
    }
}
