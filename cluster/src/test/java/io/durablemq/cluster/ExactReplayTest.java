package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.rocksdb.WriteBatch;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static io.durablemq.cluster.ClusterHarness.await;
import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static io.durablemq.cluster.EngineClients.publish;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Exact replay on real Ratis servers (loopback) and real RocksDB stores: a node restarted without
 * a snapshot skips every entry its store holds (nothing is written again), a store ahead of its
 * Raft log refuses to start, and message ids are never reused after a leader change.
 */
@Timeout(180)
class ExactReplayTest {
    @RegisterExtension
    final Clusters clusters = new Clusters();

    /**
     * Non-idempotent proof: while the follower is stopped, a record that an early entry wrote is
     * deleted from its store. Replaying that entry would put it back; an exact replay leaves it out.
     */
    @Test
    void aRestartedNodeSkipsEveryEntryItsStoreHoldsAndWritesNoneAgain() throws Exception {
        ClusterHarness cluster = clusters.of(3);
        int leader = cluster.startAll();
        Engine engine = cluster.engine(leader);
        offlineSubscriber(engine, "canary");
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, 20);
        int follower = (leader + 1) % 3;
        cluster.awaitApplied(follower, cluster.nodes.get(leader).raftStatus().lastIndex());
        cluster.stop(follower);

        byte[] canaryFilter = Keys.subscription(Keys.session("canary"), "t/#");
        AppliedEntry held;
        try (Store store = Store.open(cluster.data(follower), Durability.OS); WriteBatch b = new WriteBatch()) {
            held = AppliedEntry.read(store);
            assertNotNull(held, "every applied entry records its index in the store");
            assertNotNull(store.get(StoreColumn.SUBSCRIPTIONS, canaryFilter), "an early entry wrote the canary's subscription");
            b.delete(store.handle(StoreColumn.SUBSCRIPTIONS), canaryFilter);
            store.write(b);
        }

        ClusterNode again = cluster.start(follower);
        cluster.awaitApplied(follower, held.index());
        assertEquals(new ReplayCounts(0, held.index() + 1), again.replayCounts(),
                "entries 0.." + held.index() + " (the store's record) were all skipped, none written");
        publish(engine, "pub", 20, 25);
        cluster.awaitApplied(follower, cluster.nodes.get(leader).raftStatus().lastIndex());
        assertTrue(again.replayCounts().written() >= 5, "the entries after the store's record are applied: " + again.replayCounts());
        cluster.close();

        try (Store store = Store.open(cluster.data(follower), Durability.OS)) {
            assertNull(store.get(StoreColumn.SUBSCRIPTIONS, canaryFilter), "no entry the store held was written again");
        }
        try (Store store = Store.open(cluster.data(leader), Durability.OS)) {
            assertNotNull(store.get(StoreColumn.SUBSCRIPTIONS, canaryFilter), "the leader's store keeps it");
        }
        try (Engine e = Engine.open(EngineService.config(cluster.data(follower)), new SimpleMeterRegistry())) {
            assertEquals(25, e.session("sub").queuedMessages(), "and the store holds every acknowledged message");
        }
    }

    /** The node's Raft folder replaced by an older copy: its store holds entries its log does not. */
    @Test
    void aStoreAheadOfItsRaftLogRefusesToStartNamingBothIndexes() throws Exception {
        ClusterHarness cluster = clusters.of(3);
        int leader = cluster.startAll();
        Engine engine = cluster.engine(leader);
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, 5);
        int follower = (leader + 1) % 3;
        cluster.awaitApplied(follower, cluster.nodes.get(leader).raftStatus().lastIndex());
        long oldLogEnd = cluster.nodes.get(follower).raftStatus().lastIndex();
        cluster.stop(follower);
        Path oldRaft = cluster.tmp.resolve("raft-copy");
        ClusterHarness.copyTree(cluster.raft(follower), oldRaft);

        cluster.start(follower);
        publish(engine, "pub", 5, 15);
        cluster.awaitApplied(follower, cluster.nodes.get(leader).raftStatus().lastIndex());
        cluster.close();
        AppliedEntry held;
        try (Store store = Store.open(cluster.data(follower), Durability.OS)) {
            held = AppliedEntry.read(store);
        }
        assertTrue(held.index() > oldLogEnd, held + " beyond " + oldLogEnd);

        ClusterHarness.deleteTree(cluster.raft(follower));
        ClusterHarness.copyTree(oldRaft, cluster.raft(follower));
        ExactReplay.ReplayRefusedException refused = assertThrows(ExactReplay.ReplayRefusedException.class,
                () -> cluster.start(follower));
        assertTrue(refused.getMessage().contains("has applied raft entry " + held.index()), refused.getMessage());
        assertTrue(refused.getMessage().contains("ends at index " + oldLogEnd), refused.getMessage());
        assertTrue(refused.getMessage().contains(cluster.data(follower).toString()), refused.getMessage());
        try (Store store = Store.open(cluster.data(follower), Durability.OS)) {
            assertEquals(held, AppliedEntry.read(store), "the refused start wrote nothing to the store");
        }
    }

    /**
     * Every message delivered and its body deleted, then the leader goes: the next leader's store
     * holds no body, yet its ids continue above every id a batch in the Raft log used.
     */
    @Test
    void messageIdsAfterALeaderChangeAreAboveEveryIdInTheLog() throws Exception {
        ClusterHarness cluster = clusters.of(3);
        int first = cluster.startAll();
        Engine engine = cluster.engine(first);
        RecordingListener events = new RecordingListener();
        SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 65_535), events));
        await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
        sub.startDelivery();
        publish(engine, "pub", 0, 20);
        for (int i = 0; i < 20; i++) {
            OutboundPublish p = events.nextPublish();
            assertEquals("m" + i, new String(p.message().payload(), StandardCharsets.UTF_8));
            await(sub.puback(p.packetId()));
        }
        await(sub.disconnect(-1));
        long last = cluster.nodes.get(first).raftStatus().lastIndex();
        for (int i = 0; i < 3; i++) {
            cluster.awaitApplied(i, last);
        }

        cluster.stop(first);
        int second = cluster.awaitServing();
        publish(cluster.engine(second), "pub", 20, 25); // queued for the offline "sub"
        assertEquals(5, cluster.engine(second).session("sub").queuedMessages());
        cluster.close();

        int messagesColumn;
        try (Store store = Store.open(cluster.data(second), Durability.OS)) {
            messagesColumn = store.handle(StoreColumn.MESSAGES).getID();
        }
        List<byte[]> bodies = RaftLogEntries.putKeys(RaftLogEntries.read(cluster.raft(second)), messagesColumn);
        assertEquals(25, bodies.size(), "every body stored is in the log");
        long previous = 0;
        for (byte[] key : bodies) {
            long id = Keys.messageIdOf(key);
            assertTrue(id > previous, "message id " + id + " after id " + previous + " in the log: reused");
            previous = id;
        }
    }
}
