package io.durablemq.engine.delivery;

import io.durablemq.engine.check.BackgroundCheck;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksIterator;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The stored reference counts' hot path ({@link BodyRefs}): a body with one entry is freed
 * without reading any count; paged entries whose body has no count record are marked as its only
 * reference off the lock, and never while another entry still holds the body; the body count in
 * meta, now written once per batch, equals the bodies stored after every batch, after a restart
 * and after an operation rolled back in a batch that still commits.
 */
@Timeout(120)
class RefCountHotPathTest {
    private static final int DEEP = 300;

    @TempDir
    Path dir;

    @Test
    void singleTargetBodiesAreFreedWithoutReadingACount() throws Exception {
        Path data = dir.resolve("data");
        long readsBefore = BodyRefs.storeCountReads();
        try (EngineFixture fx = new EngineFixture(data)) {
            EngineFixture.Connected sub = fx.connect("sub", false, 86_400);
            sub.subscribe("one/1", 1);
            sub.subscribe("one/2", 2);
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < 100; m++) {
                int qos = m % 2 + 1;
                // Each publish waits for its batch to be written, so the ack finds no unwritten count anywhere.
                pub.publish(m + 1, "one/" + qos, "m" + m, qos);
                var p = sub.listener().nextPublish();
                assertEquals("m" + m, EngineFixture.text(p.message()));
                if (qos == 1) {
                    await(sub.handle().puback(p.packetId()));
                } else {
                    await(sub.handle().pubrec(p.packetId()));
                    assertEquals(p.packetId(), sub.listener().nextPubrel());
                    await(sub.handle().pubcomp(p.packetId()));
                }
            }
            assertEquals(0, BodyRefs.storeCountReads() - readsBefore, "counts read from the store");
            assertEquals(0, fx.engine().stats().storedBodies());
        }
        assertStore(data, 0, 0);
    }

    /**
     * A fan-out to three sessions: "a" online acknowledging, "b" and "c" offline with 300 each
     * (past their 64-entry heads). After a restart "c" drains first: its pages see count records
     * (b still holds every body) and must not be marked, or its acks would delete b's bodies. Then
     * b drains: the count records are gone as it goes, and its pages read after that need no count.
     */
    @Test
    void pagedEntriesAreMarkedAsOnlyReferenceOnlyWhenNoOtherEntryHoldsTheBody() throws Exception {
        Path data = dir.resolve("data");
        try (EngineFixture fx = new EngineFixture(data)) {
            for (String s : new String[]{"b", "c"}) {
                EngineFixture.Connected c = fx.connect(s, false, 86_400);
                c.subscribe("deep/#", 1);
                c.disconnect();
            }
            EngineFixture.Connected a = fx.connect("a", false, 86_400);
            a.subscribe("deep/#", 1);
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int m = 0; m < DEEP; m++) {
                pub.publish(m % 65_000 + 1, "deep/" + m, "m" + m, 1);
                var p = a.listener().nextPublish();
                await(a.handle().puback(p.packetId()));
            }
            pub.disconnect();
            a.disconnect();
        }
        assertStore(data, DEEP, DEEP); // every body has a count of 2 stored
        try (EngineFixture fx = new EngineFixture(data)) {
            drain(fx, "c");
            assertEquals(DEEP, fx.engine().stats().storedBodies(), "b still references every body");
        }
        assertStore(data, 0, DEEP); // count 1: no record
        long readsBefore = BodyRefs.storeCountReads();
        try (EngineFixture fx = new EngineFixture(data)) {
            drain(fx, "b");
            // Recovery marks the first page (64 entries) with one ordered read, page reads mark every page after it.
            assertEquals(0, BodyRefs.storeCountReads() - readsBefore, "counts read from the store");
            awaitBodies(fx, 0);
            BackgroundCheck.Report r = fx.engine().awaitBackgroundCheck(Duration.ofSeconds(60));
            assertEquals(BackgroundCheck.State.PASSED, r.state(), String.valueOf(r));
        }
        assertStore(data, 0, 0);
    }

    /**
     * Batch N+1 holds a publish that succeeded and one whose routing threw (rolled back): the
     * committer still writes N+1, with the body count of what it really holds. Without putting
     * the figure back at the rollback, meta would count a body that was never stored.
     */
    @Test
    void theBodyCountOfABatchWithARolledBackOperationCountsOnlyWhatItHolds() throws Exception {
        Path data = dir.resolve("data");
        HeldCommits faults = new HeldCommits();
        try (EngineFixture fx = new EngineFixture(data, c -> c.withCommitFaults(faults))) {
            for (String s : new String[]{"x", "y"}) {
                EngineFixture.Connected c = fx.connect(s, false, 86_400);
                c.subscribe("rb/#", 1);
                c.disconnect();
            }
            RecordingListener events = new RecordingListener();
            SessionHandle pub = await(fx.engine().connect(new ConnectRequest("pub", false, 86_400, 100), events));
            pub.startDelivery();
            assertEquals(PublishResult.Status.ACCEPTED, await(pub.publish(1, msg("first"))).status());

            faults.holdNextWrite();
            CompletableFuture<PublishResult> held = pub.publish(2, msg("held")); // batch N, held in the write
            assertTrue(faults.awaitHeld(), "the committer holds batch N");
            CompletableFuture<PublishResult> kept = pub.publish(3, msg("kept")); // batch N+1
            faults.failNextRouting();
            CompletableFuture<PublishResult> failed = pub.publish(4, msg("failed")); // batch N+1, rolled back
            assertThrows(ExecutionException.class, () -> failed.get(10, TimeUnit.SECONDS));
            faults.release();
            assertEquals(PublishResult.Status.ACCEPTED, held.get(10, TimeUnit.SECONDS).status());
            // "kept" was written (the sealed batch is committed) even if its answer is lost to the reset.
            try {
                kept.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException lostToTheReset) {
                // allowed: the client resends
            }
            awaitCommitting(fx);
        }
        assertStore(data, 3, 3); // first, held, kept: each to two sessions
        VerifyReport report = StoreVerifier.verify(data);
        assertTrue(report.ok(), report.toText());
        try (EngineFixture fx = new EngineFixture(data)) {
            assertEquals(3, fx.engine().stats().storedBodies());
            assertEquals(BackgroundCheck.State.PASSED, fx.engine().awaitBackgroundCheck(Duration.ofSeconds(60)).state());
        }
    }

    private static Message msg(String text) {
        return Message.of("rb/t", text.getBytes(StandardCharsets.UTF_8), 1);
    }

    private static void awaitCommitting(EngineFixture fx) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 20_000;
        while (!fx.engine().isCommitting() && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(fx.engine().isCommitting(), "the engine reset to its durable state");
    }

    private static void awaitBodies(EngineFixture fx, long expected) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 10_000;
        while (fx.engine().stats().storedBodies() != expected && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(expected, fx.engine().stats().storedBodies());
    }

    private static void drain(EngineFixture fx, String clientId) {
        EngineFixture.Connected c = fx.connect(clientId, false, 86_400);
        for (int m = 0; m < DEEP; m++) {
            RecordingListener.Event e = c.listener().next(Duration.ofSeconds(10));
            assertTrue(e.isPublish(), clientId + " message " + m + ": " + e);
            assertEquals("m" + m, EngineFixture.text(e.publish().message()), clientId + " message " + m);
            await(c.handle().puback(e.publish().packetId()));
        }
        c.disconnect();
    }

    /** Reads the store directly: count records, bodies, and meta's body count equal to the bodies; verify passes. */
    static void assertStore(Path data, int countRecords, long bodies) throws Exception {
        VerifyReport report = StoreVerifier.verify(data);
        assertTrue(report.ok(), report.toText());
        try (Store store = Store.open(data, Durability.FSYNC)) {
            assertEquals(countRecords, keys(store, StoreColumn.REFCOUNTS), "count records");
            assertEquals(bodies, keys(store, StoreColumn.MESSAGES), "bodies stored");
            byte[] meta = store.get(StoreColumn.META, StoreFormat.STORED_BODIES_KEY);
            assertEquals(bodies, meta == null ? 0 : ByteBuffer.wrap(meta).getLong(), "meta's stored-bodies");
        }
    }

    private static long keys(Store store, StoreColumn column) throws Exception {
        long n = 0;
        try (RocksIterator it = store.iterator(column)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                n++;
            }
            it.status();
        }
        return n;
    }

    /** Holds the committer in its next write until released, and throws once in the middle of a routing. */
    private static final class HeldCommits implements CommitFaults {
        private final AtomicBoolean holdNext = new AtomicBoolean();
        private final AtomicBoolean failRouting = new AtomicBoolean();
        private final CountDownLatch held = new CountDownLatch(1);
        private final CountDownLatch released = new CountDownLatch(1);

        void holdNextWrite() {
            holdNext.set(true);
        }

        void failNextRouting() {
            failRouting.set(true);
        }

        boolean awaitHeld() throws InterruptedException {
            return held.await(10, TimeUnit.SECONDS);
        }

        void release() {
            released.countDown();
        }

        @Override
        public void beforeWrite(int writes) {
            if (holdNext.compareAndSet(true, false)) {
                held.countDown();
                try {
                    released.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        @Override
        public void routedTo(int queuedSoFar) {
            if (queuedSoFar == 1 && failRouting.compareAndSet(true, false)) {
                throw new IllegalStateException("injected between two queues");
            }
        }
    }
}
