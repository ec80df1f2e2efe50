package io.durablemq.engine.delivery;

import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.durablemq.engine.support.EngineFixture.await;
import static io.durablemq.engine.support.EngineFixture.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A subscriber's PUBACK or PUBCOMP that only frees a slot of its window (nothing refilled, nothing to
 * send) is written without an fsync ({@code Committer.noFsyncNeeded}): lost in a power cut, the
 * message is resent with DUP or its PUBREL again, which the client must accept. Everything else stays
 * synced: a publish, the publisher's PUBREL, the subscriber's PUBREC (its PUBREL must not go out before
 * the record), and an acknowledgement that refills the window (a QoS 2 PUBLISH must not go out before
 * its in-flight record). Real RocksDB through a {@link BatchLog} that records how each batch was
 * written; the same engine restarted shows that the unsynced acknowledgements were kept (the WAL is
 * synced at close and by the next synced write). Losing them at a power cut is {@code PowerCutIT}'s.
 */
@Timeout(120)
class UnsyncedAcksTest {
    private static final long PERSISTENT = 3600;

    @TempDir
    Path dir;

    /** The local log's two ways of writing, recorded in order: true = synced, false = without a sync. */
    static final class RecordingLog implements BatchLog {
        final List<Boolean> writes = new CopyOnWriteArrayList<>();

        @Override
        public void write(Store store, WriteBatch batch) throws Exception {
            writes.add(true);
            BatchLog.LOCAL.write(store, batch);
        }

        @Override
        public CompletableFuture<Void> submitUnsynced(Store store, WriteBatch batch) throws Exception {
            writes.add(false);
            return BatchLog.LOCAL.submitUnsynced(store, batch);
        }

        @Override
        public boolean writesUnsyncedBatches() {
            return true;
        }

        final List<Long> tailSyncs = new CopyOnWriteArrayList<>();

        @Override
        public void syncUnsynced(Store store) throws Exception {
            tailSyncs.add(System.nanoTime());
            BatchLog.LOCAL.syncUnsynced(store);
        }

        /** How the batches written since {@code mark} were written. */
        List<Boolean> since(int mark) {
            return List.copyOf(writes.subList(mark, writes.size()));
        }
    }

    @Test
    void aPubackThatRefillsNothingIsWrittenWithoutAnFsyncAndOneThatRefillsIsSynced() {
        RecordingLog log = new RecordingLog();
        try (EngineFixture fx = new EngineFixture(dir, c -> c, log)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 1)); // a window of one
            sub.subscribe("t/#", 1);
            Connected pub = fx.connect("pub", true, 0);

            int mark = log.writes.size();
            pub.publish(1, "t/a", "m1", 1);
            assertEquals(List.of(true), log.since(mark), "a publish is synced");
            OutboundPublish first = sub.listener().nextPublish();
            pub.publish(2, "t/a", "m2", 1); // queued behind the full window

            mark = log.writes.size();
            await(sub.handle().puback(first.packetId()));
            assertEquals(List.of(true), log.since(mark), "a PUBACK that refills the window is synced");
            OutboundPublish second = sub.listener().nextPublish();
            assertEquals("m2", text(second.message()));

            mark = log.writes.size();
            await(sub.handle().puback(second.packetId()));
            assertEquals(List.of(false), log.since(mark), "a PUBACK that refills nothing is written without a sync");
            assertEquals(0, fx.engine().stats().inflightMessages() + fx.engine().stats().queuedMessages());
            assertTrue(fx.counter("durablemq.commit.unsynced.batches") >= 1, "counted apart");
            sub.disconnect();
        }
        try (EngineFixture fx = new EngineFixture(dir, c -> c, log)) { // restarted on the same store
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.listener().expectNothing(Duration.ofMillis(300));
            assertEquals(0, fx.engine().stats().inflightMessages() + fx.engine().stats().queuedMessages(),
                    "the acknowledged messages stay acknowledged after a clean restart");
        }
    }

    @Test
    void aPubcompIsWrittenWithoutAnFsyncWhileThePubrecAndThePublishersPubrelAreSynced() {
        RecordingLog log = new RecordingLog();
        try (EngineFixture fx = new EngineFixture(dir, c -> c, log)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.subscribe("t/#", 2);
            Connected pub = fx.connect("pub", true, 0);

            int mark = log.writes.size();
            pub.publish(1, "t/a", "exactly-once", 2);
            assertEquals(List.of(true), log.since(mark), "a QoS 2 publish (its receive record, the subscriber's in-flight record) is synced");
            OutboundPublish p = sub.listener().nextPublish();

            mark = log.writes.size();
            await(pub.handle().release(1));
            assertEquals(List.of(true), log.since(mark), "the publisher's PUBREL (its receive record's end) is synced");

            mark = log.writes.size();
            await(sub.handle().pubrec(p.packetId()));
            assertEquals(List.of(true), log.since(mark), "the subscriber's PUBREC is synced: its PUBREL goes out after the record");
            assertEquals(p.packetId(), sub.listener().nextPubrel());

            mark = log.writes.size();
            await(sub.handle().pubcomp(p.packetId()));
            assertEquals(List.of(false), log.since(mark), "the subscriber's PUBCOMP is written without a sync");
            assertEquals(0, fx.engine().stats().inflightMessages());
            sub.disconnect();
        }
        try (EngineFixture fx = new EngineFixture(dir, c -> c, log)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.listener().expectNothing(Duration.ofMillis(300));
            assertEquals(0, fx.engine().stats().inflightMessages(), "no PUBREL resent after a clean restart");
        }
    }

    @Test
    void anIdleCommitterSyncsTheUnsyncedTailSoonAfter() throws Exception {
        RecordingLog log = new RecordingLog();
        try (EngineFixture fx = new EngineFixture(dir, c -> c, log)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.subscribe("t/#", 1);
            Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "t/a", "m1", 1);
            OutboundPublish p = sub.listener().nextPublish();
            int mark = log.writes.size();
            long acked = System.nanoTime();
            await(sub.handle().puback(p.packetId()));
            assertEquals(List.of(false), log.since(mark));
            // Nothing else comes: the writer syncs the WAL once it waited that long for a next batch.
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (log.tailSyncs.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1, log.tailSyncs.size(), "one WAL sync for the idle tail");
            assertTrue(log.tailSyncs.get(0) - acked >= 40_000_000L, "not before the writer waited for a next batch");
            assertEquals(mark + 1, log.writes.size(), "by a WAL sync, not by a write");

            // A synced write after an unsynced one leaves no tail: no sync of its own follows.
            pub.publish(2, "t/a", "m2", 1);
            Thread.sleep(300);
            assertEquals(1, log.tailSyncs.size(), "a synced write leaves no tail to sync");
        }
    }
}
