package io.durablemq.bench.jmh;

import io.durablemq.bench.fill.BulkBacklogStore;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksIterator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Proves that {@link BulkBacklogStore} writes the store the engine itself writes: the same fill
 * (20 offline sessions on one topic at QoS 1, 50 QoS 1 messages of 64 bytes) once through the
 * engine ({@link EngineFixture#fillOfflineQueues} with fan-out 20) and once with the builder,
 * then every record of every column family compared. Only the wall-clock times differ, and are
 * blanked before comparing: meta's {@code created-at-millis} (and the message-id ceiling, set by
 * when the engine's committer took its first batch), the session records'
 * {@code disconnectedAt} and the queue entries' {@code enqueuedAt}. The message ids are the
 * same (a fresh engine numbers bodies from 1, as the builder does). Then {@code verify} (with
 * its invariant check) passes on the built store, and an engine opened on it delivers every
 * message to a reconnecting session.
 */
@Timeout(180)
class BulkBacklogStoreTest {

    private static final int SESSIONS = 20;
    private static final int MESSAGES = 50;
    private static final int PAYLOAD = 64;

    @Test
    void theBuiltStoreEqualsAnEngineFillRecordByRecordVerifiesAndDelivers(@TempDir Path tmp) throws Exception {
        Path engineDir;
        try (EngineFixture fx = EngineFixture.open("bulk-cmp", Durability.OS)) {
            fx.fillOfflineQueues("cmp", (long) SESSIONS * MESSAGES, SESSIONS, SESSIONS, PAYLOAD);
            fx.closeKeepingStore();
            engineDir = fx.dir;
            Map<String, String> byEngine = records(engineDir);

            Path built = tmp.resolve("built");
            BulkBacklogStore.Report r = BulkBacklogStore.build(built, new BulkBacklogStore.Spec(SESSIONS, MESSAGES, "cmp/0",
                    s -> "offline-" + s, i -> Sequences.payload(i, PAYLOAD), ConnectRequest.NEVER_EXPIRES,
                    System.currentTimeMillis()));
            assertEquals((long) SESSIONS * MESSAGES, r.entries());
            Map<String, String> byBuilder = records(built);

            // Something to compare: meta (4 with the id ceiling), sessions, subscriptions, bodies, counts, entries.
            assertEquals(4 + SESSIONS * 2 + MESSAGES * 2 + SESSIONS * MESSAGES, byEngine.size(), "records of the engine fill");
            assertEquals(List.of(), differences(byEngine, byBuilder), "records that differ (column/key: engine | builder)");

            try (io.durablemq.engine.store.Store b = io.durablemq.engine.store.Store.open(built, Durability.OS)) {
                assertTrue(io.durablemq.engine.message.MessageIds.storedCeiling(b) > MESSAGES, "the built id ceiling covers every id");
            }
            VerifyReport v = StoreVerifier.verify(built);
            assertTrue(v.ok(), () -> "verify on the built store: " + v.problems());

            assertDeliversEverything(built, "offline-7");
            VerifyReport after = StoreVerifier.verify(built);
            assertTrue(after.ok(), () -> "verify after the drain: " + after.problems());
        }
    }

    private static void assertDeliversEverything(Path dir, String clientId) throws Exception {
        ExecutorService loop = Executors.newSingleThreadExecutor();
        Set<Long> got = ConcurrentHashMap.newKeySet();
        java.util.concurrent.atomic.AtomicLong acked = new java.util.concurrent.atomic.AtomicLong();
        EngineFixture fx = EngineFixture.openExisting(dir, Durability.OS);
        try {
            AckingSubscriber sub = new AckingSubscriber(loop, got::add, id -> acked.incrementAndGet());
            SessionHandle h = fx.resume(clientId, sub);
            sub.attach(h);
            h.startDelivery();
            for (int i = 0; i < 1_000 && acked.get() < MESSAGES; i++) {
                Thread.sleep(10);
            }
            assertEquals(MESSAGES, got.size(), "distinct messages delivered to " + clientId);
            assertEquals(MESSAGES, (int) acked.get(), "acknowledged by " + clientId);
            for (long i = 0; i < MESSAGES; i++) {
                assertTrue(got.contains(i), "message " + i + " delivered");
            }
            EngineFixture.join(h.disconnect(-1));
        } finally {
            fx.closeKeepingStore();
            loop.shutdownNow();
        }
    }

    private static List<String> differences(Map<String, String> engine, Map<String, String> builder) {
        List<String> out = new ArrayList<>();
        Set<String> keys = new TreeSet<>(engine.keySet());
        keys.addAll(builder.keySet());
        for (String k : keys) {
            if (!Objects.equals(engine.get(k), builder.get(k))) {
                out.add(k + ": " + engine.get(k) + " | " + builder.get(k));
            }
        }
        return out.size() > 20 ? out.subList(0, 20) : out;
    }

    /** Every record of every column family, as {@code column/hexKey -> hexValue}, wall-clock times blanked. */
    private static Map<String, String> records(Path dir) throws Exception {
        Map<String, String> all = new TreeMap<>();
        HexFormat hex = HexFormat.of();
        try (Store store = Store.open(dir, Durability.OS)) {
            for (StoreColumn c : StoreColumn.values()) {
                try (RocksIterator it = store.iterator(c)) {
                    for (it.seekToFirst(); it.isValid(); it.next()) {
                        byte[] key = it.key();
                        byte[] value = it.value();
                        all.put(c.cfName() + "/" + hex.formatHex(key), hex.formatHex(blankTimes(c, key, value)));
                    }
                    it.status();
                }
            }
        }
        return all;
    }

    private static byte[] blankTimes(StoreColumn c, byte[] key, byte[] value) {
        byte[] v = value.clone();
        switch (c) {
            case META -> {
                // The id ceiling is next id + a block at the engine's first batch: when its committer
                // took that batch, not a property of the fill (both stores' ceilings cover every id: below).
                if (Arrays.equals(key, StoreFormat.CREATED_KEY) || Arrays.equals(key, StoreFormat.MESSAGE_ID_CEILING_KEY)) {
                    Arrays.fill(v, (byte) 0);
                }
            }
            case SESSIONS -> Arrays.fill(v, 9, 17, (byte) 0);   // u8 version | i64 expiry | i64 disconnectedAt
            case QUEUES -> Arrays.fill(v, 18, 26, (byte) 0);    // i64 id | u8 qos | u8 retain | i64 expiresAt | i64 enqueuedAt
            default -> {
            }
        }
        return v;
    }
}
