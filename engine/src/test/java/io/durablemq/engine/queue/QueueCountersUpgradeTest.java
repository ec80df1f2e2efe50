package io.durablemq.engine.queue;

import io.durablemq.engine.check.RepairFixtures;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.nio.ByteBuffer;
import java.nio.file.Path;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A store written in the format-1 layout (session records without queue counters, format record
 * 1) is upgraded when the engine opens it: counters computed once from the entries, every
 * session record rewritten as version 2, format 2 written; the queues then page and drain.
 */
@Timeout(120)
class QueueCountersUpgradeTest {
    private static final int CLIENTS = 30;
    private static final int QUEUED = 150; // more than a head (64)

    @TempDir
    Path dir;

    @Test
    void aFormatOneStoreIsUpgradedOnOpenAndItsQueuesDrain() throws Exception {
        try (Store store = Store.open(dir, Durability.FSYNC)) {
            RepairFixtures.fillFormatOne(store, CLIENTS, QUEUED); // version-1 session records, as format 1 wrote them
            try (WriteBatch b = new WriteBatch()) {
                b.put(store.handle(StoreColumn.META), StoreFormat.VERSION_KEY, ByteBuffer.allocate(4).putInt(1).array());
                store.write(b);
            }
            assertNull(SessionRecord.decode(store.get(StoreColumn.SESSIONS, Keys.session(RepairFixtures.client(0)))).queue());
        }
        VerifyReport before = StoreVerifier.verify(dir);
        assertTrue(before.ok(), before.toText());
        assertEquals(1, before.formatVersion());

        try (EngineFixture fx = new EngineFixture(dir)) {
            for (int i = 0; i < CLIENTS; i++) {
                assertEquals(QUEUED, fx.engine().session(RepairFixtures.client(i)).queuedMessages());
            }
            assertEquals((long) CLIENTS * QUEUED, fx.engine().stats().queuedMessages());
            Connected c = fx.connect(new ConnectRequest(RepairFixtures.client(3), false, 86_400, 4));
            // Two in-flight entries are resent first, then the whole queue in sequence order.
            for (int i = 0; i < RepairFixtures.INFLIGHT_PER_CLIENT + QUEUED; i++) {
                OutboundPublish p = c.listener().nextPublish();
                await(c.handle().puback(p.packetId()));
            }
            assertEquals(0, fx.engine().session(RepairFixtures.client(3)).queuedMessages());
        }
        try (Store store = Store.open(dir, Durability.FSYNC)) {
            assertEquals(2, ByteBuffer.wrap(store.get(StoreColumn.META, StoreFormat.VERSION_KEY)).getInt());
            QueueCounters c = SessionRecord.decode(store.get(StoreColumn.SESSIONS, Keys.session(RepairFixtures.client(0)))).queue();
            assertNotNull(c);
            assertEquals(QUEUED, c.messages());
            assertEquals(QUEUED * 100L, c.bytes());
            assertEquals(QUEUED + 1, c.nextSeq());
        }
        VerifyReport after = StoreVerifier.verify(dir);
        assertTrue(after.ok(), after.toText());
        assertEquals(2, after.formatVersion());
    }
}
