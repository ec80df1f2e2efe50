package io.durablemq.engine.message;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.BatchOperation;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreWriteException;
import io.durablemq.engine.support.InjectedRoutingFault;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksIterator;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Message ids are never reused: after every body was delivered and deleted, the store holds no
 * body, yet a restarted engine continues above every id it handed out (the stored ceiling), also
 * when the operation that took a block's first id was rolled back.
 */
@Timeout(60)
class MessageIdsTest {
    @TempDir
    Path tmp;

    @Test
    void idsAfterARestartAreAboveEveryIdHandedOutEvenWithNoBodyLeft() throws Exception {
        EngineConfig config = EngineConfig.defaults(tmp.resolve("data")).withDurability(Durability.OS);
        try (Engine engine = Engine.open(config, new SimpleMeterRegistry())) {
            RecordingListener events = new RecordingListener();
            SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 65_535), events));
            await(sub.subscribe(List.of(Subscription.of("t", 1))));
            sub.startDelivery();
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
            for (int i = 0; i < 10; i++) {
                await(pub.publish(i + 1, Message.of("t", new byte[] {(byte) i}, 1)));
                OutboundPublish p = events.nextPublish();
                await(sub.puback(p.packetId()));
            }
            await(sub.disconnect(-1));
        }
        try (Store store = Store.open(config.dataPath(), Durability.OS)) {
            assertEquals(List.of(), bodyIds(store), "every body was delivered and deleted");
            assertTrue(MessageIds.storedCeiling(store) > 10, "the ceiling covers the ten ids handed out");
        }
        try (Engine engine = Engine.open(config, new SimpleMeterRegistry())) {
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
            await(pub.publish(1, Message.of("t", new byte[] {42}, 1))); // queued for the offline "sub"
        }
        try (Store store = Store.open(config.dataPath(), Durability.OS)) {
            List<Long> queued = queuedIds(store);
            assertEquals(1, queued.size());
            assertTrue(queued.get(0) > 10, "id " + queued.get(0) + " after ids 1..10: reused");
        }
    }

    /**
     * The operation that takes a block's first id fails and is rolled back with all its writes;
     * later operations use the rest of the block; every body is delivered and deleted; a restart
     * must still continue above every id used. When the ceiling was put inside the operation that
     * took the block's first id, the rollback took it away and the restart handed out id 2 again.
     */
    @Test
    void aRolledBackOperationThatTookABlocksFirstIdLeavesEveryLaterIdCovered() throws Exception {
        Path path = tmp.resolve("store");
        Object lock = new Object();
        List<Long> used = new ArrayList<>();
        try (Store store = Store.open(path, Durability.OS)) {
            MessageIds ids = new MessageIds();
            ids.restore(1, store); // an empty store: the next id is the first of a new block
            Committer committer = new Committer(store, quiet(), lock, CommitFaults.NONE);
            committer.lastWrites(ids);
            try {
                synchronized (lock) {
                    BatchOperation failed = committer.operation();
                    long first = ids.next();
                    committer.put(StoreColumn.MESSAGES, Keys.message(first), new byte[] {1});
                    failed.close(); // no succeeded(): the operation threw after taking the id, its writes go
                }
                for (int i = 0; i < 10; i++) {
                    synchronized (lock) {
                        BatchOperation op = committer.operation();
                        long id = ids.next();
                        used.add(id);
                        committer.put(StoreColumn.MESSAGES, Keys.message(id), new byte[] {2});
                        op.succeeded();
                    }
                }
                durable(committer, lock);
                synchronized (lock) { // all delivered: every body deleted
                    for (long id : used) {
                        committer.delete(StoreColumn.MESSAGES, Keys.message(id));
                    }
                }
                durable(committer, lock);
            } finally {
                committer.close();
            }
        }
        try (Store store = Store.open(path, Durability.OS)) {
            assertEquals(List.of(), bodyIds(store), "every body was delivered and deleted");
            MessageIds restarted = new MessageIds();
            restarted.restore(1, store); // recovery: no body left, so only the stored ceiling says where to go on
            long next = restarted.peek(); // the next id it hands out
            long highest = Collections.max(used);
            assertTrue(next > highest, "after a restart id " + next + " is handed out again: ids up to " + highest
                    + " were used (stored ceiling " + MessageIds.storedCeiling(store) + ")");
        }
    }

    /**
     * The same through the engine: the first publish after the start (the first id of a block)
     * fails half way (after its first queue entry) and is rolled back; the engine returns to its
     * durable state; ten more messages are published and delivered; after a restart the next id
     * is above all of them. (This one held before the fix too: a failed operation resets the
     * engine, whose recovery re-reads the stored ceiling; the test above is the one that needs
     * the ceiling written at the batch's end.)
     */
    @Test
    void aPublishRolledBackAfterTakingABlocksFirstIdStillLeavesTheRestartAboveEveryIdUsed() throws Exception {
        InjectedRoutingFault fault = new InjectedRoutingFault();
        EngineConfig config = EngineConfig.defaults(tmp.resolve("data")).withDurability(Durability.OS)
                .withCommitFaults(fault);
        try (Engine engine = Engine.open(config, new SimpleMeterRegistry())) {
            RecordingListener subEvents = new RecordingListener();
            SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 65_535), subEvents));
            await(sub.subscribe(List.of(Subscription.of("t", 1))));
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
            fault.arm(1, () -> new IllegalStateException("injected after the first queue entry"));
            CompletableFuture<?> failed = pub.publish(1, Message.of("t", new byte[] {0}, 1));
            assertThrows(ExecutionException.class, () -> failed.get(20, TimeUnit.SECONDS));
            assertTrue(fault.fired(), "the fault fired inside the publish");
            awaitClosed(subEvents);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!engine.isCommitting()) {
                if (System.nanoTime() > deadline) {
                    fail("the engine did not return to its durable state within 30 s");
                }
                Thread.sleep(20);
            }
            RecordingListener events = new RecordingListener();
            sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 65_535), events));
            sub.startDelivery();
            pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
            for (int i = 0; i < 10; i++) {
                await(pub.publish(i + 2, Message.of("t", new byte[] {(byte) i}, 1)));
                OutboundPublish p = events.nextPublish();
                await(sub.puback(p.packetId()));
            }
            await(sub.disconnect(-1));
        }
        try (Store store = Store.open(config.dataPath(), Durability.OS)) {
            assertEquals(List.of(), bodyIds(store), "every body was delivered and deleted");
        }
        try (Engine engine = Engine.open(config.withCommitFaults(CommitFaults.NONE), new SimpleMeterRegistry())) {
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
            await(pub.publish(1, Message.of("t", new byte[] {42}, 1))); // queued for the offline "sub"
        }
        try (Store store = Store.open(config.dataPath(), Durability.OS)) {
            List<Long> queued = queuedIds(store);
            assertEquals(1, queued.size());
            // The failed publish's id was never written; ids 1..10 (at most 11) went to the ten delivered ones.
            assertTrue(queued.get(0) > 11, "id " + queued.get(0) + " after ten delivered messages: reused");
        }
    }

    private static void awaitClosed(RecordingListener events) {
        RecordingListener.Event e = events.next(Duration.ofSeconds(10));
        while (e.closed() == null) {
            e = events.next(Duration.ofSeconds(10));
        }
        assertEquals(SessionListener.CloseReason.ENGINE_RESET, e.closed());
    }

    /** Waits until everything appended so far is durable. */
    private static void durable(Committer committer, Object lock) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        synchronized (lock) {
            committer.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    done.complete(null);
                }

                @Override
                public void failed(Throwable cause) {
                    done.completeExceptionally(cause);
                }
            });
        }
        await(done);
    }

    private static Committer.Observer quiet() {
        return new Committer.Observer() {
            @Override
            public void committed(int writes, int completions, long nanos) {
            }

            @Override
            public void commitFailed(StoreWriteException cause) {
                throw new AssertionError("a commit failed", cause);
            }
        };
    }

    private static List<Long> bodyIds(Store store) throws Exception {
        List<Long> ids = new ArrayList<>();
        try (RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                ids.add(Keys.messageIdOf(it.key()));
            }
            it.status();
        }
        return ids;
    }

    private static List<Long> queuedIds(Store store) throws Exception {
        List<Long> ids = new ArrayList<>();
        try (RocksIterator it = store.iterator(StoreColumn.QUEUES)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                ids.add(QueueEntry.decode(Keys.seqOf(it.key()), it.value()).messageId());
            }
            it.status();
        }
        return ids;
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(20, TimeUnit.SECONDS);
    }
}
