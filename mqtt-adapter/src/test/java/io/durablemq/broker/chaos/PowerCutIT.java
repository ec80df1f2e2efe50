package io.durablemq.broker.chaos;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Power cuts, not just SIGKILLs: the {@link ChaosRun} workload (Paho publishers and durable
 * subscribers, raw QoS 2 clients) against the broker jar whose data folder sits on a LazyFS mount
 * ({@link LazyFs}). At each kill point the broker is SIGKILLed and, once it is gone, LazyFS drops
 * every write that was not fsynced ({@link PowerCut}); the broker restarts on what is left.
 *
 * <p>{@code fsync} durability must lose no acknowledged message and deliver no QoS 2 message twice,
 * per publisher QoS level. {@code os} durability acknowledges before its write reaches the disk, so
 * the same workload must show losses there: that run is reported, not failed, and proves the test
 * can see a missing fsync. Needs root and LazyFS (see {@link LazyFs#requireBinary()}).
 *
 * <p>Default: {@code -Dpowercut.cuts} (10) cuts per QoS level in fsync mode, {@code -Dpowercut.os.cuts}
 * (4) in os mode, {@code -Dpowercut.torn.cuts} (3) torn WAL writes ({@code torn-op}),
 * {@code -Dpowercut.tornseq.cuts} (2) with {@code torn-seq}. Soak ({@code -Psoak}):
 * {@code -Dpowercut.soak.cuts} (200) per QoS level. Verdicts: {@code target/chaos/verdicts.txt}.
 */
class PowerCutIT {
    private static final long SEED = Long.getLong("chaos.seed", System.nanoTime());

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void fsyncQos1LosesNothingAtPowerCuts() throws Exception {
        assertNothingLost(1, Integer.getInteger("powercut.cuts", 10), 1_500);
    }

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void fsyncQos2LosesNothingAtPowerCuts() throws Exception {
        assertNothingLost(2, Integer.getInteger("powercut.cuts", 10), 1_500);
    }

    /**
     * The control: {@code os} durability under the same cuts. Its losses are the finding (reported);
     * the test asserts only that the cuts really ran, so a run that lost nothing says so loudly.
     */
    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void osDurabilityLosesAcknowledgedMessagesAtPowerCuts() throws Exception {
        reportOsLosses(Integer.getInteger("powercut.os.cuts", 4), 1_500);
    }

    /**
     * A torn last WAL write at the cut: the broker either opens the store by itself or refuses it
     * as CORRUPT (naming the WAL file and the repair command); then the harness runs
     * {@code durablemq repair DATA --durability fsync}, whose report must say the damage was
     * confined to the WAL's tail and nothing acknowledged was lost, and restarts the broker. The
     * ledger's verdict over all cuts, with the same clients, is the proof: 0 lost, 0 QoS 2 duplicated.
     */
    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void tornWalWritesLoseNothingAfterRefuseAndRepair() throws Exception {
        assertTornWritesLoseNothing(Integer.getInteger("powercut.torn.cuts", 3));
    }

    /**
     * The same with LazyFS's {@code torn-seq}: the kernel hands a WAL write to LazyFS in pieces split
     * at page boundaries, with no fsync between them; only the 2nd piece reaches the disk.
     */
    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void tornSeqWalWritesLoseNothingAfterRefuseAndRepair() throws Exception {
        assertTornWritesLoseNothing(Integer.getInteger("powercut.tornseq.cuts", 2), TornWalWrite.Kind.TORN_SEQ);
    }

    private static void assertTornWritesLoseNothing(int cuts) throws Exception {
        assertTornWritesLoseNothing(cuts, TornWalWrite.Kind.TORN_OP);
    }

    private static void assertTornWritesLoseNothing(int cuts, TornWalWrite.Kind kind) throws Exception {
        Path bin = LazyFs.requireBinary();
        Path work = work("torn-fsync", cuts);
        try (LazyFs fs = LazyFs.mount(bin, work.resolve("lazyfs"))) {
            TornWalWrite fault = new TornWalWrite(fs, Path.of("data"), kind);
            Outcome o = run(fs, "fsync", 0, cuts, 1_500, work, fault, true);
            List<OperatorRepair.Outcome> repairs = fault.repairs();
            String report = o.report + "torn WAL writes: " + fault.torn() + " of " + o.verdict.kills() + " cuts (the others:"
                    + " no WAL write within 5 s, plain power cuts)\n"
                    + "torn writes: " + fault.torn() + ", store opened by itself: " + fault.openedByItself()
                    + ", refused and repaired: " + fault.repairedAfterTorn()
                    + ", repair reports lost: " + repairs.stream().map(OperatorRepair.Outcome::losses).toList() + "\n"
                    + "WAL scan after each torn write, before the restart: " + fault.walScans() + "\n"
                    + "refusals naming the WAL file and `durablemq repair DATA --durability fsync`: "
                    + fault.refusalsNamingWalAndRepair() + " of " + repairs.size()
                    + "; refusals after a cut that tore nothing: " + fault.refusedAfterPlainCut() + "\n"
                    + (fault.failedRepair() == null ? "" : "FAILED REPAIR: " + fault.failedRepair() + "\n")
                    + (o.refused == null ? "" : "REFUSED and not repaired: " + o.refused + "\n");
            publish(report);
            assertNull(fault.failedRepair(), "a refusal the repair command could not fix, or whose report does not say"
                    + " nothing acknowledged was lost:\n" + report);
            assertNull(o.refused, "the broker must start after each torn write, by itself or after repair:\n" + report);
            assertEquals(0, fault.refusedAfterPlainCut(), "refused after a plain fsync power cut:\n" + report);
            assertEquals(repairs.size(), fault.refusalsNamingWalAndRepair(),
                    "every refusal names the WAL file and the repair command:\n" + report);
            assertClean(o.verdict, cuts, report);
            assertTrue(fault.torn() > 0, "no cut tore a WAL write:\n" + report);
        }
    }

    @Test
    @Tag("soak")
    @Timeout(value = 10, unit = TimeUnit.HOURS)
    void soakFsyncQos1() throws Exception {
        assertNothingLost(1, Integer.getInteger("powercut.soak.cuts", 200), 20_000);
    }

    @Test
    @Tag("soak")
    @Timeout(value = 10, unit = TimeUnit.HOURS)
    void soakFsyncQos2() throws Exception {
        assertNothingLost(2, Integer.getInteger("powercut.soak.cuts", 200), 20_000);
    }

    @Test
    @Tag("soak")
    @Timeout(value = 10, unit = TimeUnit.HOURS)
    void soakOs() throws Exception {
        reportOsLosses(Integer.getInteger("powercut.soak.os.cuts", 50), 5_000);
    }

    @Test
    @Tag("soak")
    @Timeout(value = 10, unit = TimeUnit.HOURS)
    void soakTornWalWrites() throws Exception {
        assertTornWritesLoseNothing(Integer.getInteger("powercut.soak.torn.cuts", 50));
    }

    @Test
    @Tag("soak")
    @Timeout(value = 10, unit = TimeUnit.HOURS)
    void soakTornSeqWalWrites() throws Exception {
        assertTornWritesLoseNothing(Integer.getInteger("powercut.soak.tornseq.cuts", 50), TornWalWrite.Kind.TORN_SEQ);
    }

    private static void assertNothingLost(int qos, int cuts, int target) throws Exception {
        Path bin = LazyFs.requireBinary();
        Path work = work("fsync-q" + qos, cuts);
        try (LazyFs fs = LazyFs.mount(bin, work.resolve("lazyfs"))) {
            PowerCut fault = new PowerCut(fs);
            Outcome o = run(fs, "fsync", qos, cuts, target, work, fault, false);
            publish(o.report + "broker starts that hung on the LazyFS mount, ended as one more power cut each: "
                    + fault.hungStarts() + "\n");
            assertEquals(cuts, fault.cuts(), "confirmed cache clears:\n" + o.report);
            assertClean(o.verdict, cuts, o.report);
            assertTrue(o.verdict.acknowledged() >= target, "acknowledged at least " + target + ":\n" + o.report);
        }
    }

    private static void reportOsLosses(int cuts, int target) throws Exception {
        Path bin = LazyFs.requireBinary();
        Path work = work("os", cuts);
        try (LazyFs fs = LazyFs.mount(bin, work.resolve("lazyfs"))) {
            PowerCut fault = new PowerCut(fs);
            Outcome o = run(fs, "os", 0, cuts, target, work, fault, true);
            Verdict v = o.verdict;
            String finding = o.refused != null
                    ? "os durability: " + o.refused + "\nos lost " + v.lost() + " deliveries of " + v.acknowledged()
                    + " acknowledged messages by then (undelivered when the store was refused)"
                    : "os lost " + v.lost() + " (message, session) deliveries of " + v.acknowledged()
                    + " acknowledged messages (QoS 1 " + v.acknowledgedQos1()
                    + ", QoS 2 " + v.acknowledgedQos2() + "), QoS 2 duplicated " + v.qos2Duplicates() + ", order violations "
                    + v.orderViolations() + ", anomalies " + v.anomalies() + " over " + fault.cuts() + " power cuts";
            long emptyRestarts = o.recoveries.stream().skip(1).filter(r -> r.contains("sessions=0,")).count();
            finding += "\nos restarts that found no session at all: " + emptyRestarts + " of " + (o.recoveries.size() - 1);
            if (o.refused == null && v.lost() == 0 && v.qos2Duplicates() == 0) {
                finding += "\nWARNING: os durability lost nothing over " + fault.cuts() + " power cuts: this run did not show"
                        + " that the test can see a missing fsync";
            }
            publish(o.report + finding + "\n");
            // what makes the run meaningful: every cut really dropped the cache and the broker came back after
            // each (or refused its store, itself a finding), and it acknowledged traffic to lose
            assertEquals(v.kills(), fault.cuts(), "every kill was followed by a confirmed power cut:\n" + o.report);
            if (o.refused == null) {
                assertEquals(cuts, v.kills(), o.report);
                assertEquals(cuts + 1, v.recoveryMillis().size(), "a recovery per start:\n" + o.report);
            }
            assertTrue(v.acknowledged() > 0, "os run acknowledged nothing:\n" + o.report);
        }
    }

    private record Outcome(Verdict verdict, String refused, String report, List<String> recoveries) {
    }

    private static Outcome run(LazyFs fs, String durability, int qos, int cuts, int target, Path work, Fault fault,
                               boolean refusalEndsRun) throws Exception {
        ChaosRun run = new ChaosRun(new ChaosRun.Settings(durability, cuts, target, SEED, work, BrokerUnderTest.brokerJar(),
                fs.mountPoint().resolve("data"), qos, fault, refusalEndsRun,
                // os durability loses whole sessions at a cut: their deliveries never come, so wait less for them
                durability.equals("os") ? 10_000 : 30_000));
        Verdict v = run.run();
        String report = "==== power cuts: durability " + durability + ", publishers at "
                + (qos == 0 ? "QoS 1 and 2" : "QoS " + qos) + ", fault " + fault + " ====\n" + v + run.clientNotes()
                + "\nseed " + SEED + " (rerun with -Dchaos.seed=" + SEED + "), work folder " + work + "\n"
                + "recovery reports: " + run.recoveryReports() + "\n";
        assertTrue(run.publisherFailures().isEmpty(), "publisher threads failed: " + run.publisherFailures() + "\n" + report);
        return new Outcome(v, run.refusedStart(), report, run.recoveryReports());
    }

    private static void assertClean(Verdict v, int cuts, String report) {
        assertEquals(cuts, v.kills(), report);
        assertEquals(0, v.lost(), "acknowledged messages lost at power cuts:\n" + report);
        assertEquals(0, v.qos2Duplicates(), "QoS 2 messages delivered twice:\n" + report);
        assertEquals(0, v.orderViolations(), "order violations:\n" + report);
        assertEquals(0, v.anomalies(), "anomalies:\n" + report);
    }

    private static void publish(String report) throws Exception {
        System.out.println(report);
        Files.writeString(ChaosIT.workRoot().resolve("verdicts.txt"), report + "\n", StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }

    /**
     * The path {@link PowerCut#recoverHungStart} takes when a restarted broker hangs on the LazyFS
     * mount: LazyFS is frozen (SIGSTOP) before a restart, the broker cannot read its store and
     * never listens; the fault kills both (one more power cut) and the broker then starts.
     * Soak-only: it waits out the listen timeout ({@code -Dchaos.listen.timeout.ms}, 90 s default).
     */
    @Test
    @Tag("soak")
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void aBrokerHungOnAFrozenMountIsEndedAsOneMorePowerCut() throws Exception {
        Path bin = LazyFs.requireBinary();
        Path work = work("hung", 1);
        try (LazyFs fs = LazyFs.mount(bin, work.resolve("lazyfs"))) {
            BrokerUnderTest broker = new BrokerUnderTest(BrokerUnderTest.brokerJar(), work,
                    fs.mountPoint().resolve("data"), "fsync");
            try {
                broker.start();
                assertEquals(137, broker.kill());
                fs.freeze();
                assertThrows(IllegalStateException.class, broker::start, "a broker on a frozen mount must not listen");
                assertTrue(broker.isAlive(), "hung, not exited:\n" + broker.log());
                PowerCut fault = new PowerCut(fs);
                assertTrue(fault.recoverHungStart(broker));
                broker.start();
                assertEquals(1, fault.hungStarts());
                assertEquals(0, broker.terminate(), broker.log());
            } finally {
                broker.close();
            }
        }
    }

    private static Path work(String name, int cuts) throws Exception {
        return ChaosIT.workRoot().resolve("powercut-" + name + "-" + cuts + "-" + System.currentTimeMillis());
    }
}
