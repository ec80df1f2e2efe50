package io.durablemq.engine.delivery;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.SessionSnapshot;
import io.durablemq.engine.check.RepairFixtures;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import io.durablemq.engine.support.RecordingListener;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;

import static io.durablemq.engine.delivery.RefCountHotPathTest.assertStore;
import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The entries recovery builds from the store (each session's in-flight window and its queue's
 * first page) are marked as their body's only reference when the body has no count record
 * (one ordered read of {@code refcounts} per session at recovery, {@code Recovery.soleReferences}), so acknowledging them
 * after a restart reads no count on the acknowledging thread (a Netty event loop in the broker),
 * under the engine's lock; an entry whose body still has a count record is not marked, and its
 * body lives until the last reference is released.
 */
@Timeout(120)
class RecoveredSoleReferencesTest {
    private static final int WINDOW = 10;
    /** Queued behind the window: more than the 64-entry head recovery restores, so page reads follow. */
    private static final int QUEUED = 100;
    private static final int TOTAL = WINDOW + QUEUED;
    private static final int FAN = 2 * WINDOW;
    /** Enough count records for an SST file whose first data block can be damaged (over 2 KiB). */
    private static final int DAMAGED_FAN = 1_000;

    @TempDir
    Path dir;

    /**
     * A window of QoS 1 and QoS 2 messages sent and never acknowledged, 100 more queued; after a
     * restart the session is drained (resends first, PUBACK / PUBREC-PUBREL-PUBCOMP): the
     * acknowledging thread reads no count, and no body, count record or body count is left.
     */
    @Test
    void recoveredInFlightAndHeadEntriesAreReleasedWithoutReadingACount() throws Exception {
        Path data = dir.resolve("data");
        try (EngineFixture fx = new EngineFixture(data, c -> c.withMaxInflight(WINDOW))) {
            Connected sub = fx.connect("sub", false, 86_400);
            sub.subscribe("one/1", 1);
            sub.subscribe("one/2", 2);
            Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < TOTAL; m++) {
                int qos = m % 2 + 1;
                pub.publish(m % 65_000 + 1, "one/" + qos, "m" + m, qos);
            }
            for (int i = 0; i < WINDOW; i++) { // sent, never acknowledged: in flight across the restart
                assertTrue(sub.listener().next(Duration.ofSeconds(10)).isPublish(), "window message " + i);
            }
            sub.disconnect();
            pub.disconnect();
        }
        assertStore(data, 0, TOTAL); // single targets: no count record

        try (EngineFixture fx = new EngineFixture(data, c -> c.withMaxInflight(WINDOW))) {
            SessionSnapshot recovered = fx.engine().session("sub");
            assertEquals(WINDOW, recovered.inflight().size(), "in flight after the restart");
            assertEquals(64, recovered.queueInMemory(), "the recovered head");
            drainReadingNoCount(fx, "sub", TOTAL);
        }
        assertStore(data, 0, 0);
    }

    /**
     * A fan-out of 20 QoS 2 messages to "a" (QoS 1, ten of them in flight) and "b" (offline): after
     * a restart both hold every body, with a count record of 2; a's entries are not marked, so each
     * of its releases reads the count and leaves the body for b. After a second restart the records
     * are gone (count 1): b's recovered head is marked, its drain reads no count and frees every body.
     */
    @Test
    void aFanOutRecoveredInTwoSessionsKeepsItsBodyUntilTheLastRelease() throws Exception {
        Path data = dir.resolve("data");
        try (EngineFixture fx = new EngineFixture(data, c -> c.withMaxInflight(WINDOW))) {
            Connected b = fx.connect("b", false, 86_400);
            b.subscribe("fan/#", 2);
            b.disconnect();
            Connected a = fx.connect("a", false, 86_400);
            a.subscribe("fan/#", 1);
            Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < FAN; m++) {
                pub.publish(m + 1, "fan/" + m, "m" + m, 2);
            }
            for (int i = 0; i < WINDOW; i++) {
                assertTrue(a.listener().next(Duration.ofSeconds(10)).isPublish(), "a's window message " + i);
            }
            a.disconnect();
            pub.disconnect();
        }
        assertStore(data, FAN, FAN); // a count of 2 stored for every body

        try (EngineFixture fx = new EngineFixture(data, c -> c.withMaxInflight(WINDOW))) {
            long readsBefore = BodyRefs.storeCountReads();
            assertEquals(FAN, drain(fx.connect("a", false, 86_400), FAN).size());
            assertEquals(FAN, BodyRefs.storeCountReads() - readsBefore, "a's releases read their counts");
            assertEquals(FAN, fx.engine().stats().storedBodies(), "b still references every body");
        }
        assertStore(data, 0, FAN); // count 1: no record

        try (EngineFixture fx = new EngineFixture(data, c -> c.withMaxInflight(WINDOW))) {
            drainReadingNoCount(fx, "b", FAN);
        }
        assertStore(data, 0, 0);
    }

    /**
     * Recovery reads the count records of the first pages' bodies: a damaged block there refuses
     * the start (never taken for "no record", which would mark a shared body's entries as its only
     * reference), naming the column family and the file, as any read of recovery.
     */
    @Test
    void aDamagedCountRecordBlockRefusesTheStartNamingItsFile() throws Exception {
        Path data = dir.resolve("data");
        try (EngineFixture fx = new EngineFixture(data)) {
            for (String s : new String[]{"x", "y"}) {
                Connected c = fx.connect(s, false, 86_400);
                c.subscribe("d/#", 1);
                c.disconnect();
            }
            Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < DAMAGED_FAN; m++) {
                pub.publish(m + 1, "d/" + m, "m" + m, 1);
            }
            pub.disconnect();
        }
        try (Store store = Store.open(data, Durability.FSYNC)) {
            store.flushAll(); // the count records into one SST file
        }
        Path sst = RepairFixtures.damageFirstDataBlock(data, StoreColumn.REFCOUNTS);
        StoreOpenException e = assertThrows(StoreOpenException.class,
                () -> Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close());
        assertEquals(StoreOpenException.Reason.CORRUPT, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("column family refcounts"), e.getMessage());
        assertTrue(e.getMessage().contains(sst.getFileName().toString()), e.getMessage());
    }

    /**
     * Acknowledges every delivery as a client would (PUBACK; PUBREC, then PUBCOMP for the PUBREL)
     * until {@code total} distinct messages came and no PUBREL is pending; returns their payloads.
     */
    /**
     * Drains a recovered session whose entries are all marked as their bodies' only reference:
     * every message arrives, no count is read (on the acknowledging thread or anywhere from the
     * store), and every body is freed.
     */
    private static void drainReadingNoCount(EngineFixture fx, String clientId, int expected) throws Exception {
        String me = Thread.currentThread().getName();
        BodyRefs.forgetCountReaderThreads();
        long readsBefore = BodyRefs.storeCountReads();
        assertEquals(expected, drain(fx.connect(clientId, false, 86_400), expected).size());
        assertFalse(BodyRefs.countReaderThreads().contains(me),
                "counts read on the acknowledging thread: " + BodyRefs.countReaderThreads());
        assertEquals(0, BodyRefs.storeCountReads() - readsBefore, "counts read from the store");
        awaitBodies(fx, 0);
    }

    private static Set<String> drain(Connected c, int total) {
        Set<String> received = new HashSet<>();
        int pubrelsDue = 0;
        while (received.size() < total || pubrelsDue > 0) {
            RecordingListener.Event e = c.listener().next(Duration.ofSeconds(10));
            if (e.isPublish()) {
                received.add(EngineFixture.text(e.publish().message()));
                if (e.publish().qos() == 1) {
                    await(c.handle().puback(e.publish().packetId()));
                } else {
                    await(c.handle().pubrec(e.publish().packetId()));
                    pubrelsDue++;
                }
            } else {
                assertTrue(e.isPubrel(), "expected a PUBLISH or a PUBREL: " + e);
                await(c.handle().pubcomp(e.pubrel()));
                pubrelsDue--;
            }
        }
        c.disconnect();
        return received;
    }

    private static void awaitBodies(EngineFixture fx, long expected) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 10_000;
        while (fx.engine().stats().storedBodies() != expected && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(expected, fx.engine().stats().storedBodies());
    }
}
