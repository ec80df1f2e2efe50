package io.durablemq.engine.delivery;

import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.store.Committer;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A subscriber's PUBACK or PUBCOMP that only frees a slot of its window (nothing refilled, nothing to
 * send) may wait for the next commit ({@code Committer.mayWaitForNextCommit}): it does not wake the
 * writer, and rides in the next batch that something else makes ready, in that one write and fsync, or
 * is written alone after {@link Committer#RIDE_ALONG_MILLIS}. Nothing waits for it; lost in a crash,
 * the message is resent with DUP or its PUBREL again, which the client must accept (the power cuts of
 * {@code PowerCutIT} lose such writes). Everything else is written as soon as the writer has room: a
 * publish, the publisher's PUBREL, the subscriber's PUBREC (its PUBREL goes out after the record) and an
 * acknowledgement that refills the window (a QoS 2 PUBLISH goes out after its in-flight record). Real
 * RocksDB through a {@link BatchLog} that records each write's size; the ride-along time stretched to 10
 * minutes ({@link CommitFaults#rideAlongMillis()}) where a test needs "never alone", so that nothing
 * here depends on timing but the last test's lower bound.
 */
@Timeout(120)
class AcksRideAlongTest {
    private static final long PERSISTENT = 3600;
    private static final CommitFaults NEVER_ALONE = new CommitFaults() {
        @Override
        public long rideAlongMillis() {
            return 600_000;
        }
    };

    @TempDir
    Path dir;

    /** The local store write, recorded: each batch's number of writes and when it was written. */
    static final class RecordingLog implements BatchLog {
        final List<Integer> sizes = new CopyOnWriteArrayList<>();
        final List<Long> times = new CopyOnWriteArrayList<>();

        @Override
        public void write(Store store, WriteBatch batch) throws Exception {
            sizes.add(batch.count());
            times.add(System.nanoTime());
            store.write(batch);
        }
    }

    @Test
    void aPubackThatRefillsNothingRidesWithTheNextCommitAndOneThatRefillsIsWrittenAtOnce() throws Exception {
        RecordingLog log = new RecordingLog();
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withCommitFaults(NEVER_ALONE), log)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 1)); // a window of one
            sub.subscribe("t/#", 1);
            Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "t/a", "m1", 1);
            OutboundPublish first = sub.listener().nextPublish();
            pub.publish(2, "t/a", "m2", 1); // queued behind the full window

            // Refills the window: written without waiting (with the ride-along stretched, awaiting it proves that).
            await(sub.handle().puback(first.packetId()));
            OutboundPublish second = sub.listener().nextPublish();
            assertEquals("m2", text(second.message()));

            int mark = log.sizes.size();
            CompletableFuture<Void> lastAck = sub.handle().puback(second.packetId()); // refills nothing
            Thread.sleep(300);
            assertEquals(mark, log.sizes.size(), "a PUBACK that refills nothing does not wake the writer");
            assertFalse(lastAck.isDone(), "its future waits for the commit it rides in");
            assertEquals(0, fx.engine().stats().inflightMessages() + fx.engine().stats().queuedMessages(),
                    "the image changed at once");

            pub.publish(3, "elsewhere/x", "m3", 1); // no subscriber: a publish, written at once
            await(lastAck);
            assertEquals(mark + 1, log.sizes.size(), "the PUBACK rode in the publish's write: one write for both");
            sub.disconnect();
        }
        try (EngineFixture fx = new EngineFixture(dir, c -> c, log)) { // restarted on the same store
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.listener().expectNothing(Duration.ofMillis(300));
            assertEquals(0, fx.engine().stats().inflightMessages() + fx.engine().stats().queuedMessages(),
                    "the acknowledgements that rode along are in the store");
        }
    }

    @Test
    void aPubcompRidesAlongWhileThePubrecAndThePublishersPubrelAreWrittenAtOnce() throws Exception {
        RecordingLog log = new RecordingLog();
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withCommitFaults(NEVER_ALONE), log)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.subscribe("t/#", 2);
            Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "t/a", "exactly-once", 2);
            OutboundPublish p = sub.listener().nextPublish();
            await(pub.handle().release(1)); // the publisher's PUBREL: written at once (awaited)
            await(sub.handle().pubrec(p.packetId())); // the subscriber's PUBREC: written at once
            assertEquals(p.packetId(), sub.listener().nextPubrel());

            int mark = log.sizes.size();
            CompletableFuture<Void> pubcomp = sub.handle().pubcomp(p.packetId());
            Thread.sleep(300);
            assertEquals(mark, log.sizes.size(), "the subscriber's PUBCOMP does not wake the writer");
            assertFalse(pubcomp.isDone());
            assertEquals(0, fx.engine().stats().inflightMessages());
            sub.disconnect(); // a session record write: the PUBCOMP rides in it
            assertTrue(pubcomp.isDone(), "written with the disconnect");
        }
        try (EngineFixture fx = new EngineFixture(dir, c -> c, log)) {
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.listener().expectNothing(Duration.ofMillis(300));
            assertEquals(0, fx.engine().stats().inflightMessages(), "no PUBREL resent after the restart");
        }
    }

    @Test
    void aRideAlongOperationIsWrittenAloneAfterTheRideAlongTime() {
        RecordingLog log = new RecordingLog();
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withCommitFaults(CommitFaults.NONE), log)) { // production's
            Connected sub = fx.connect(new ConnectRequest("sub", false, PERSISTENT, 10));
            sub.subscribe("t/#", 1);
            Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "t/a", "m1", 1);
            OutboundPublish p = sub.listener().nextPublish();
            int mark = log.sizes.size();
            long acked = System.nanoTime();
            await(sub.handle().puback(p.packetId())); // nothing else comes
            assertEquals(mark + 1, log.sizes.size(), "written alone");
            long waited = log.times.get(mark) - acked;
            assertTrue(waited >= (Committer.RIDE_ALONG_MILLIS - 5) * 1_000_000L,
                    "not before the ride-along time: " + waited / 1_000 + " µs");
        }
    }
}
