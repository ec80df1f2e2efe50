package io.durablemq.engine.queue;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.check.BackgroundCheck;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.support.BatchOps;
import io.durablemq.engine.support.InjectedRoutingFault;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The session record, which carries its queue's counters, is written once per commit batch with
 * its final counters, however many queue changes the batch holds; the record at the end of every
 * batch equals the queue (what recovery and the invariant check rely on): in a batch the test
 * holds together, with a discard after the changes, with an operation rolled back, and across
 * SIGKILLs. Every batch the engine writes goes through a {@link BatchLog} that reads it back
 * (RocksDB's own batch iteration) before writing it to the real store.
 */
@Timeout(300)
class SessionRecordOncePerBatchTest {
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void fiftyQueueChangesInOneBatchWriteTheSessionRecordOnceWithTheFinalCounters() throws Exception {
        Path data = dir.resolve("data");
        CountingLog log = new CountingLog();
        try (Engine engine = Engine.open(config(data), new SimpleMeterRegistry(), log)) {
            offlineSubscriber(engine, "sub", "t/#");
            SessionHandle pub = connect(engine, "pub", 100);
            log.holdNext();
            CompletableFuture<PublishResult> first = pub.publish(1, msg("t/a", "m0"));
            assertTrue(log.awaitHeld(), "the committer holds the first publish's batch");
            List<CompletableFuture<PublishResult>> rest = new ArrayList<>();
            for (int i = 1; i <= 50; i++) {
                rest.add(pub.publish(i + 1, msg("t/a", "m" + i))); // all into the open batch
            }
            log.release();
            assertEquals(PublishResult.Status.ACCEPTED, first.get(10, TimeUnit.SECONDS).status());
            for (CompletableFuture<PublishResult> f : rest) {
                assertEquals(PublishResult.Status.ACCEPTED, f.get(10, TimeUnit.SECONDS).status());
            }
            Batch batch = log.batchWithQueuePuts(50);
            assertEquals(List.of("put"), batch.sessionOps("sub"), "the session record in a batch of 50 enqueues");
            assertEquals(51, engine.session("sub").queuedMessages());
        }
        assertRecordEqualsQueue(data, "sub", 51);
        try (Engine engine = Engine.open(config(data), new SimpleMeterRegistry())) {
            assertEquals(51, engine.session("sub").queuedMessages(), "recovered from the record");
            assertEquals(BackgroundCheck.State.PASSED, engine.awaitBackgroundCheck(Duration.ofSeconds(60)).state());
        }
    }

    /**
     * Entries queued for an online subscriber with room in its window move to the in-flight
     * window in the same operation: their queue keys are fresh, so the batch writes neither the
     * put nor the delete (only the in-flight records), and the session record once.
     */
    @Test
    void entriesQueuedAndPumpedInOneBatchWriteNeitherPutNorDelete() throws Exception {
        Path data = dir.resolve("data");
        CountingLog log = new CountingLog();
        RecordingListener events = new RecordingListener();
        try (Engine engine = Engine.open(config(data), new SimpleMeterRegistry(), log)) {
            SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 100), events));
            await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
            sub.startDelivery();
            SessionHandle pub = connect(engine, "pub", 100);
            log.holdNext();
            CompletableFuture<PublishResult> first = pub.publish(1, msg("t/a", "m0"));
            assertTrue(log.awaitHeld(), "the committer holds the first publish's batch");
            List<CompletableFuture<PublishResult>> rest = new ArrayList<>();
            for (int i = 1; i <= 20; i++) {
                rest.add(pub.publish(i + 1, msg("t/a", "m" + i)));
            }
            log.release();
            first.get(10, TimeUnit.SECONDS);
            for (CompletableFuture<PublishResult> f : rest) {
                f.get(10, TimeUnit.SECONDS);
            }
            List<Batch> twenty = log.batches.stream().filter(b -> b.inflightPuts() == 20).toList();
            assertEquals(1, twenty.size(), String.valueOf(log.batches));
            assertEquals(0, twenty.get(0).queuePuts(), "queue puts");
            assertEquals(0, twenty.get(0).queueDeletes(), "queue deletes");
            assertEquals(List.of("put"), twenty.get(0).sessionOps("sub"));
            for (int i = 0; i <= 20; i++) {
                var p = events.nextPublish();
                assertEquals("m" + i, new String(p.message().payload(), StandardCharsets.UTF_8));
                await(sub.puback(p.packetId()));
            }
            assertEquals(0, engine.session("sub").queuedMessages());
        }
        assertRecordEqualsQueue(data, "sub", 0);
    }

    /**
     * Queue changes, then the session ends (expiry 0) in the same batch: its delete is the batch's
     * last word on the record. Written at the batch's end after the delete, the pending record
     * would bring back a session whose entries the batch range-deleted.
     */
    @Test
    void aSessionDiscardedAfterQueueChangesInTheSameBatchStaysDeleted() throws Exception {
        Path data = dir.resolve("data");
        CountingLog log = new CountingLog();
        try (Engine engine = Engine.open(config(data), new SimpleMeterRegistry(), log)) {
            SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 1), new RecordingListener()));
            await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
            sub.startDelivery();
            SessionHandle pub = connect(engine, "pub", 100);
            log.holdNext();
            CompletableFuture<PublishResult> first = pub.publish(1, msg("t/a", "m0")); // fills sub's window of 1
            assertTrue(log.awaitHeld(), "the committer holds the first publish's batch");
            List<CompletableFuture<PublishResult>> rest = new ArrayList<>();
            for (int i = 1; i <= 10; i++) {
                rest.add(pub.publish(i + 1, msg("t/a", "m" + i))); // queued: the record's counters change ten times
            }
            CompletableFuture<Void> ended = sub.disconnect(0); // expiry 0: discarded in the same batch
            log.release();
            first.get(10, TimeUnit.SECONDS);
            for (CompletableFuture<PublishResult> f : rest) {
                f.get(10, TimeUnit.SECONDS);
            }
            ended.get(10, TimeUnit.SECONDS);
            List<Batch> deleting = log.batches.stream().filter(b -> b.sessionOps("sub").contains("delete")).toList();
            assertEquals(1, deleting.size(), String.valueOf(log.batches));
            assertEquals(List.of("delete"), deleting.get(0).sessionOps("sub"), "the session record's writes in the discard's batch");
            assertNull(engine.session("sub"));
        }
        try (Store store = Store.open(data, Durability.FSYNC)) {
            assertNull(store.get(StoreColumn.SESSIONS, Keys.session("sub")), "the discarded session's record");
            assertEquals(0, entries(store, "sub"));
        }
        VerifyReport report = StoreVerifier.verify(data);
        assertTrue(report.ok(), report.toText());
    }

    /**
     * A batch holding a publish that succeeded and one whose routing threw after queueing for one
     * session: the batch still commits, and the session records carry the counters of the
     * publishes it holds, not the rolled-back one's.
     */
    @Test
    void anOperationRolledBackInABatchLeavesTheCountersOfTheOperationsBeforeIt() throws Exception {
        Path data = dir.resolve("data");
        CountingLog log = new CountingLog();
        InjectedRoutingFault fault = new InjectedRoutingFault();
        try (Engine engine = Engine.open(config(data).withCommitFaults(fault), new SimpleMeterRegistry(), log)) {
            offlineSubscriber(engine, "x", "rb/#");
            offlineSubscriber(engine, "y", "rb/#");
            SessionHandle pub = connect(engine, "pub", 100);
            assertEquals(PublishResult.Status.ACCEPTED, await(pub.publish(1, msg("rb/t", "first"))).status());
            log.holdNext();
            CompletableFuture<PublishResult> held = pub.publish(2, msg("rb/t", "held"));
            assertTrue(log.awaitHeld(), "the committer holds batch N");
            CompletableFuture<PublishResult> kept = pub.publish(3, msg("rb/t", "kept")); // batch N+1
            fault.arm(1, () -> new IllegalStateException("injected between two queues"));
            CompletableFuture<PublishResult> failed = pub.publish(4, msg("rb/t", "failed")); // rolled back
            assertThrows(ExecutionException.class, () -> failed.get(10, TimeUnit.SECONDS));
            assertTrue(fault.fired());
            log.release();
            held.get(10, TimeUnit.SECONDS);
            try {
                kept.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException lostToTheReset) {
                // allowed: written in the sealed batch, its answer may be lost to the reset
            }
            long deadline = System.currentTimeMillis() + 20_000;
            while (!engine.isCommitting() && System.currentTimeMillis() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(engine.isCommitting(), "the engine reset to its durable state");
            assertEquals(3, engine.session("x").queuedMessages(), "recovered after the reset");
            assertEquals(3, engine.session("y").queuedMessages(), "recovered after the reset");
        }
        assertRecordEqualsQueue(data, "x", 3);
        assertRecordEqualsQueue(data, "y", 3);
    }

    /**
     * SIGKILLs of {@link QueueFillDriver} (three offline queues filled by two publishers, one
     * session draining: batches with several changes per session record): after each kill, every
     * stored record's counter equals the entries stored for it, read from RocksDB directly, the
     * invariant check passes, and the engine recovers exactly those counters.
     */
    @Test
    void afterSigkillsEveryRecoveredCounterEqualsTheStoredQueue() throws Exception {
        Path data = dir.resolve("store");
        Path ackLog = dir.resolve("acks.log");
        Files.createFile(ackLog);
        Random rnd = new Random(16);
        long next = 1;
        for (int i = 0; i < 3; i++) {
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
            Thread.sleep(500 + rnd.nextInt(1500));
            p.destroyForcibly();
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            drain.join(10_000);
            next += 10_000_000;

            Map<String, Long> stored = new java.util.TreeMap<>();
            try (Store store = Store.open(data, Durability.FSYNC)) {
                for (String id : QueueFillDriver.OFFLINE) {
                    long counted = entries(store, id);
                    SessionRecord record = SessionRecord.decode(store.get(StoreColumn.SESSIONS, Keys.session(id)));
                    assertEquals(counted, record.queue().messages(), id + "'s record after kill " + (i + 1));
                    stored.put(id, counted);
                }
            }
            assertTrue(stored.values().stream().allMatch(n -> n > 0), "the kill came after some publishes: " + stored);
            VerifyReport report = StoreVerifier.verify(data);
            assertTrue(report.ok(), "after kill " + (i + 1) + ": " + report.toText());
            try (Engine engine = Engine.open(EngineConfig.defaults(data).withDurability(Durability.FSYNC), new SimpleMeterRegistry())) {
                for (String id : QueueFillDriver.OFFLINE) {
                    assertEquals(stored.get(id).longValue(), engine.session(id).queuedMessages(), id + " recovered");
                }
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static EngineConfig config(Path data) {
        return EngineConfig.defaults(data).withDurability(Durability.OS);
    }

    private static void offlineSubscriber(Engine engine, String clientId, String filter) {
        SessionHandle h = await(engine.connect(new ConnectRequest(clientId, false, 86_400, 10), new RecordingListener()));
        await(h.subscribe(List.of(Subscription.of(filter, 1))));
        await(h.disconnect(-1));
    }

    private static SessionHandle connect(Engine engine, String clientId, int receiveMaximum) {
        SessionHandle h = await(engine.connect(new ConnectRequest(clientId, false, 86_400, receiveMaximum), new RecordingListener()));
        h.startDelivery();
        return h;
    }

    private static Message msg(String topic, String text) {
        return Message.of(topic, text.getBytes(StandardCharsets.UTF_8), 1);
    }

    private static <T> T await(CompletableFuture<T> f) {
        try {
            return f.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** The record's counter equals the stored entries, read directly; then the whole invariant check. */
    private static void assertRecordEqualsQueue(Path data, String clientId, long expected) throws Exception {
        try (Store store = Store.open(data, Durability.FSYNC)) {
            byte[] value = store.get(StoreColumn.SESSIONS, Keys.session(clientId));
            assertNotNull(value, clientId + "'s record");
            assertEquals(expected, entries(store, clientId), clientId + "'s stored entries");
            assertEquals(expected, SessionRecord.decode(value).queue().messages(), clientId + "'s stored counter");
        }
        VerifyReport report = StoreVerifier.verify(data);
        assertTrue(report.ok(), report.toText());
    }

    private static long entries(Store store, String clientId) throws Exception {
        byte[] prefix = Keys.session(clientId);
        byte[] end = Keys.prefixEnd(prefix);
        long n = 0;
        try (RocksIterator it = store.iterator(StoreColumn.QUEUES)) {
            for (it.seek(prefix); it.isValid() && java.util.Arrays.compareUnsigned(it.key(), end) < 0; it.next()) {
                n++;
            }
            it.status();
        }
        return n;
    }

    /** What one written batch did to the session records (in order, per client) and how many queue entries it put. */
    record Batch(int queuePuts, int queueDeletes, int inflightPuts, Map<String, List<String>> sessionOps) {
        List<String> sessionOps(String clientId) {
            return sessionOps.getOrDefault(clientId, List.of());
        }
    }

    /** Reads every batch back before writing it to the store; can hold the committer in its next write. */
    static final class CountingLog implements BatchLog {
        final List<Batch> batches = new CopyOnWriteArrayList<>();
        private final AtomicBoolean holdNext = new AtomicBoolean();
        private final CountDownLatch held = new CountDownLatch(1);
        private final CountDownLatch released = new CountDownLatch(1);

        void holdNext() {
            holdNext.set(true);
        }

        boolean awaitHeld() throws InterruptedException {
            return held.await(10, TimeUnit.SECONDS);
        }

        void release() {
            released.countDown();
        }

        Batch batchWithQueuePuts(int n) {
            List<Batch> found = batches.stream().filter(b -> b.queuePuts() == n).toList();
            assertEquals(1, found.size(), "batches with " + n + " queue puts among " + batches);
            return found.get(0);
        }

        @Override
        public void write(Store store, WriteBatch batch) throws Exception {
            if (holdNext.compareAndSet(true, false)) {
                held.countDown();
                released.await(30, TimeUnit.SECONDS);
            }
            int[] counts = {0, 0, 0}; // queue puts, queue deletes, in-flight puts
            Map<String, List<String>> ops = new ConcurrentHashMap<>();
            for (BatchOps.Op op : BatchOps.of(store, batch)) {
                boolean put = op.kind() == BatchOps.Kind.PUT;
                boolean delete = op.kind() == BatchOps.Kind.DELETE
                        || op.kind() == BatchOps.Kind.SINGLE_DELETE;
                if (op.column() == StoreColumn.SESSIONS && (put || delete)) {
                    ops.computeIfAbsent(Keys.clientIdOf(op.key()), k -> new ArrayList<>()).add(put ? "put" : "delete");
                } else if (op.column() == StoreColumn.QUEUES && put) {
                    counts[0]++;
                } else if (op.column() == StoreColumn.QUEUES && delete) {
                    counts[1]++;
                } else if (op.column() == StoreColumn.INFLIGHT && put) {
                    counts[2]++;
                }
            }
            batches.add(new Batch(counts[0], counts[1], counts[2], ops));
            store.write(batch);
        }
    }
}
