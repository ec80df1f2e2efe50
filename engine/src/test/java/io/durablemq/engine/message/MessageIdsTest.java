package io.durablemq.engine.message;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.QueueEntry;
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
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksIterator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Message ids are never reused: after every body was delivered and deleted, the store holds no
 * body, yet a restarted engine continues above every id it handed out (the stored ceiling).
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
