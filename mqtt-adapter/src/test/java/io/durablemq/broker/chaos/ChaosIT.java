package io.durablemq.broker.chaos;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Proof of crash safety as a user's clients see it: the broker jar runs as its own process and
 * is SIGKILLed at random and chosen points; see {@link ChaosRun}. Default run: 6 kills per
 * durability mode. Soak ({@code -Psoak}): {@code -Dchaos.soak.kills} (default 300) per mode.
 *
 * <p>Work folders (broker logs, data, Paho persistence) stay under {@code target/chaos/} for
 * inspection; the verdict is printed and written to {@code target/chaos/verdicts.txt}.
 */
class ChaosIT {
    private static final long SEED = Long.getLong("chaos.seed", System.nanoTime());

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void fsyncSurvivesSigkill() throws Exception {
        verify("fsync", Integer.getInteger("chaos.kills", 6), Integer.getInteger("chaos.target", 3_000));
    }

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void osDurabilitySurvivesSigkill() throws Exception {
        verify("os", Integer.getInteger("chaos.kills", 6), Integer.getInteger("chaos.target", 3_000));
    }

    @Test
    @Tag("soak")
    @Timeout(value = 6, unit = TimeUnit.HOURS)
    void soakFsync() throws Exception {
        verify("fsync", Integer.getInteger("chaos.soak.kills", 300), Integer.getInteger("chaos.soak.target", 50_000));
    }

    @Test
    @Tag("soak")
    @Timeout(value = 6, unit = TimeUnit.HOURS)
    void soakOs() throws Exception {
        verify("os", Integer.getInteger("chaos.soak.kills", 300), Integer.getInteger("chaos.soak.target", 50_000));
    }

    private static void verify(String durability, int kills, int target) throws Exception {
        Path work = workRoot().resolve(durability + "-" + kills + "-" + System.currentTimeMillis());
        ChaosRun run = new ChaosRun(new ChaosRun.Settings(durability, kills, target, SEED, work,
                BrokerUnderTest.brokerJar()));
        Verdict v = run.run();
        String report = v + run.clientNotes() + "\nseed " + SEED + " (rerun with -Dchaos.seed=" + SEED + "), work folder " + work + "\n"
                + "recovery reports: " + run.recoveryReports() + "\n";
        System.out.println(report);
        Files.writeString(workRoot().resolve("verdicts.txt"), report + "\n", StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
        assertTrue(run.publisherFailures().isEmpty(), "publisher threads failed: " + run.publisherFailures());
        assertEquals(kills, v.kills(), report);
        assertTrue(v.acknowledged() >= target, "acknowledged at least " + target + ":\n" + report);
        assertEquals(0, v.lost(), "acknowledged messages lost:\n" + report);
        assertEquals(0, v.qos2Duplicates(), "QoS 2 messages delivered twice:\n" + report);
        assertEquals(0, v.orderViolations(), "order violations:\n" + report);
        assertEquals(0, v.anomalies(), "anomalies:\n" + report);
    }

    static Path workRoot() throws IOException {
        Path root = Path.of(System.getProperty("chaos.workDir", "target/chaos"));
        Files.createDirectories(root);
        return root;
    }
}
