package io.durablemq.engine.backup;

import io.durablemq.engine.Engine;
import io.durablemq.engine.RecoveryReport;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.support.EngineFixture;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksIterator;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Online backup at the engine: the checkpoint of a live engine opens as a store holding exactly
 * what the engine held at the request (queued messages, QoS 2 receive records, retained
 * messages), later writes are not in it, and bad targets or a closed engine are refused
 * without touching anything.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EngineBackupTest {
    @TempDir
    Path tmp;

    @Test
    void backupOpensAsAStoreWithTheSameCounts() throws Exception {
        try (EngineFixture fx = new EngineFixture(tmp.resolve("data"))) {
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("t/#", 2);
            sub.disconnect();
            EngineFixture.Connected pub = fx.connect("pub", false, 3600);
            for (int i = 0; i < 200; i++) {
                assertEquals(PublishResult.Status.ACCEPTED, pub.publish(1 + i, "t/" + (i % 4), "m" + i, 1 + i % 2).status());
            }
            // No PUBREL is sent: the QoS 2 receive records of these publishes must be in the backup.
            EngineFixture.await(pub.handle().publish(60_000, Message.of("t/x", bytes("pending"), 2)));
            EngineFixture.await(fx.engine().publish("pub", Message.of("status/a", bytes("on"), 1).withRetain(true)));

            long liveQueued = fx.engine().stats().queuedMessages();
            Path target = tmp.resolve("backups").resolve("b1");
            BackupResult result = fx.engine().backup(target);

            assertEquals(target.toAbsolutePath(), result.path());
            assertTrue(result.files() > 0 && result.bytes() > 0, "measured: " + result);
            assertEquals(202, result.messageIdsBelow(), "consistent point: after the 201 bodies stored before it: " + result);
            // The live engine goes on; these are not in the backup.
            for (int i = 0; i < 50; i++) {
                pub.publish(1_000 + i, "t/after", "late" + i, 1);
            }

            try (Engine copy = Engine.open(io.durablemq.engine.EngineConfig.defaults(target),
                    new SimpleMeterRegistry())) {
                RecoveryReport r = copy.recoveryReport();
                assertEquals(201, liveQueued, "queued in the live engine at the backup");
                assertEquals(liveQueued, r.queuedMessages(), "queued messages");
                assertEquals(2, r.sessions(), "sessions");
                assertEquals(101, r.qos2Received(), "QoS 2 receive records (100 in the loop and one more, none released)");
                assertEquals(1, r.retainedMessages(), "retained messages");
            }
            // Opening already refuses any broken invariant; verify also reads every block and body.
            io.durablemq.engine.check.VerifyReport verified = io.durablemq.engine.check.StoreVerifier.verify(target);
            assertTrue(verified.ok(), verified.toText());
            assertEquals(251, fx.engine().stats().queuedMessages(), "the live engine still has everything");
        }
    }

    /**
     * A publisher thread keeps a window of QoS 1 publishes open while three backups are taken;
     * each copy holds the body of every publish whose future (the PUBACK) completed before its
     * backup was requested.
     */
    @Test
    void backupsUnderConcurrentPublishesHoldEveryAcknowledgedMessage() throws Exception {
        try (EngineFixture fx = new EngineFixture(tmp.resolve("data"))) {
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("load/#", 1);
            sub.disconnect();
            EngineFixture.Connected pub = fx.connect("pub", false, 3600);
            Set<String> acked = ConcurrentHashMap.newKeySet();
            AtomicBoolean running = new AtomicBoolean(true);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread publisher = new Thread(() -> {
                Semaphore window = new Semaphore(200);
                try {
                    for (int i = 0; i < 2_000_000 && running.get(); i++) {
                        window.acquire();
                        String id = "m" + i;
                        pub.handle().publish(1 + i % 65_535, Message.of("load/" + i % 8, bytes(id), 1))
                                .whenComplete((r, e) -> {
                                    if (e != null) {
                                        failure.compareAndSet(null, e);
                                    } else {
                                        acked.add(id);
                                    }
                                    window.release();
                                });
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "backup-test-publisher");
            publisher.start();
            List<Set<String>> before = new ArrayList<>();
            List<Path> copies = new ArrayList<>();
            try {
                for (int b = 0; b < 3; b++) {
                    Thread.sleep(300);
                    before.add(new HashSet<>(acked));
                    Path target = tmp.resolve("copies/b" + b);
                    fx.engine().backup(target);
                    copies.add(target);
                }
                Thread.sleep(200);
            } finally {
                running.set(false);
                publisher.join(30_000);
            }
            assertEquals(null, failure.get(), "publishes failed");
            for (int b = 0; b < copies.size(); b++) {
                Set<String> bodies = new HashSet<>();
                try (Store store = Store.open(copies.get(b), Durability.FSYNC);
                     RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
                    for (it.seekToFirst(); it.isValid(); it.next()) {
                        bodies.add(new String(MessageCodec.decode(it.value()).payload(), StandardCharsets.UTF_8));
                    }
                }
                Set<String> missing = new HashSet<>(before.get(b));
                missing.removeAll(bodies);
                assertTrue(before.get(b).size() > 0, "publishes were acknowledged before backup " + b);
                assertEquals(0, missing.size(), "backup " + b + " lacks " + missing.size() + " of "
                        + before.get(b).size() + " acknowledged messages, e.g. " + missing.stream().limit(10).toList());
            }
            assertTrue(acked.size() > before.get(2).size(), "publishing went on after the last backup");
        }
    }

    @Test
    void backupIsAPlainRocksDbStoreThatStoreOpens() throws Exception {
        Path target = tmp.resolve("b");
        try (EngineFixture fx = new EngineFixture(tmp.resolve("data"))) {
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("q", 1);
            sub.disconnect();
            EngineFixture.Connected pub = fx.connect("pub", false, 3600);
            for (int i = 0; i < 30; i++) {
                pub.publish(1 + i, "q", "m" + i, 1);
            }
            fx.engine().backup(target);
        }
        try (Store store = Store.open(target, Durability.FSYNC)) {
            assertEquals(30, count(store, StoreColumn.QUEUES));
            assertEquals(30, count(store, StoreColumn.MESSAGES));
        }
    }

    @Test
    void existingTargetIsRefusedAndLeftAlone() throws Exception {
        Path target = Files.createDirectories(tmp.resolve("exists"));
        Files.writeString(target.resolve("keep.txt"), "mine");
        try (EngineFixture fx = new EngineFixture(tmp.resolve("data"))) {
            BackupException e = assertThrows(BackupException.class, () -> fx.engine().backup(target));
            assertEquals(BackupException.Reason.TARGET_EXISTS, e.reason());
            assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        }
        try (Stream<Path> files = Files.list(target)) {
            assertEquals(List.of(target.resolve("keep.txt")), files.toList());
        }
    }

    @Test
    void targetInsideTheDataFolderIsRefused() {
        Path data = tmp.resolve("data");
        try (EngineFixture fx = new EngineFixture(data)) {
            BackupException e = assertThrows(BackupException.class,
                    () -> fx.engine().backup(data.resolve("backups/../b")));
            assertEquals(BackupException.Reason.TARGET_INSIDE_STORE, e.reason());
            assertTrue(e.getMessage().contains("inside the data folder"), e.getMessage());
            assertTrue(Files.notExists(data.resolve("b")) && Files.notExists(data.resolve("backups")));
        }
    }

    @Test
    void closedEngineIsRefused() {
        EngineFixture fx = new EngineFixture(tmp.resolve("data"));
        fx.close();
        BackupException e = assertThrows(BackupException.class, () -> fx.engine().backup(tmp.resolve("late")));
        assertEquals(BackupException.Reason.UNAVAILABLE, e.reason());
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertTrue(Files.notExists(tmp.resolve("late")));
    }

    private static long count(Store store, StoreColumn column) {
        long n = 0;
        try (RocksIterator it = store.iterator(column)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                n++;
            }
        }
        return n;
    }

    /**
     * Bodies of 4 KiB and more live in blob files (store.ColumnOptions): the checkpoint must carry
     * them (RocksDB's checkpoint links blob files beside the SST files), and the copy must read
     * every body back byte for byte and pass verify (which checks blob files' own checksums).
     */
    @Test
    void aBackupOfLargeBodiesCarriesTheirBlobFiles() throws Exception {
        Set<String> published = new HashSet<>();
        Path target = tmp.resolve("backups").resolve("blobs");
        try (EngineFixture fx = new EngineFixture(tmp.resolve("data"))) {
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("big/#", 1);
            sub.disconnect();
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int i = 0; i < 60; i++) {
                String payload = (i + ":").repeat(8192 / 3);
                published.add(payload);
                assertEquals(PublishResult.Status.ACCEPTED, pub.publish(1 + i, "big/" + i, payload, 1).status());
            }
            fx.engine().backup(target);
        }
        try (Stream<Path> files = Files.list(target)) {
            assertTrue(files.anyMatch(p -> p.getFileName().toString().endsWith(".blob")), "the backup holds blob files");
        }
        assertTrue(io.durablemq.engine.check.StoreVerifier.verify(target).ok(), io.durablemq.engine.check.StoreVerifier.verify(target).toText());
        Set<String> copied = new HashSet<>();
        try (Store store = Store.open(target, Durability.FSYNC); RocksIterator it = store.iterator(StoreColumn.MESSAGES)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                copied.add(new String(MessageCodec.decode(it.value()).payload(), StandardCharsets.UTF_8));
            }
        }
        assertEquals(published, copied, "every body, read back from the backup's blob files");
        try (Engine copy = Engine.open(io.durablemq.engine.EngineConfig.defaults(target), new SimpleMeterRegistry())) {
            assertEquals(60, copy.recoveryReport().queuedMessages());
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
