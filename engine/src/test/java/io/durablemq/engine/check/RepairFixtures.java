package io.durablemq.engine.check;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.InflightState;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionCodec;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.rocksdb.LiveFileMetaData;
import org.rocksdb.WriteBatch;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Writes a consistent store with records in every data column family through the engine's own
 * codecs and key layouts (the engine opens it: {@code StoreVerifierTest} checks that), and
 * damages one SST data block of a chosen column family.
 */
public final class RepairFixtures {
    public static final int CLIENTS = 200;
    public static final int QUEUED_PER_CLIENT = 20;
    public static final int INFLIGHT_PER_CLIENT = 2;
    public static final int QOS2_PER_CLIENT = 2;
    public static final int RETAINED = 300;

    private RepairFixtures() {
    }

    public static String client(int i) {
        return "client-" + String.format("%04d", i);
    }

    /** Writes the contents in batches; returns the number of queued entries written. */
    public static void fill(Store store, int clients, int queuedPerClient) throws Exception {
        fill(store, clients, queuedPerClient, false);
    }

    /** As format 1 wrote them: version-1 session records (no queue counters), for the upgrade's tests. */
    public static void fillFormatOne(Store store, int clients, int queuedPerClient) throws Exception {
        fill(store, clients, queuedPerClient, true);
    }

    private static void fill(Store store, int clients, int queuedPerClient, boolean version1) throws Exception {
        fill(store, clients, queuedPerClient, version1, 100);
    }

    /** As {@link #fill(Store, int, int)} with bodies of {@code payloadBytes} (4 KiB and more go to blob files). */
    public static void fillWithPayloads(Store store, int clients, int queuedPerClient, int payloadBytes) throws Exception {
        fill(store, clients, queuedPerClient, false, payloadBytes);
    }

    private static void fill(Store store, int clients, int queuedPerClient, boolean version1, int payloadBytes) throws Exception {
        Random rnd = new Random(42);
        long messageId = 1;
        long now = System.currentTimeMillis();
        for (int i = 0; i < clients; i++) {
            byte[] session = Keys.session(client(i));
            try (WriteBatch b = new WriteBatch()) {
                SessionRecord record = new SessionRecord(86_400, now);
                // Format 2: recovery refuses a version-1 record (its counters would need a scan).
                b.put(store.handle(StoreColumn.SESSIONS), session, (version1 ? record : record.withQueue(
                        new io.durablemq.engine.queue.QueueCounters(queuedPerClient, queuedPerClient * 100L, queuedPerClient + 1)))
                        .encode());
                b.put(store.handle(StoreColumn.SUBSCRIPTIONS), Keys.subscription(session, "t/" + i + "/#"),
                        SubscriptionCodec.encode(new SubscriptionOptions(1, false, false, 0, 0)));
                for (int q = 0; q < queuedPerClient; q++) {
                    long id = messageId++;
                    putBody(b, store, id, rnd, payloadBytes);
                    QueueEntry e = new QueueEntry(q + 1, id, 1, false, 0, now, 100, new int[0]);
                    b.put(store.handle(StoreColumn.QUEUES), Keys.queueEntry(session, e.seq()), e.encodeValue());
                }
                for (int p = 1; p <= INFLIGHT_PER_CLIENT; p++) {
                    long id = messageId++;
                    putBody(b, store, id, rnd, payloadBytes);
                    InflightEntry e = new InflightEntry(p, p, InflightState.PUBLISH_SENT, id, 1, false, now, 100, new int[0]);
                    b.put(store.handle(StoreColumn.INFLIGHT), Keys.packet(session, p), e.encodeValue());
                }
                for (int p = 1; p <= QOS2_PER_CLIENT; p++) {
                    b.put(store.handle(StoreColumn.QOS2_RECEIVED), Keys.packet(session, 100 + p),
                            ByteBuffer.allocate(8).putLong(now).array());
                }
                byte[] willPayload = new byte[100];
                rnd.nextBytes(willPayload);
                b.put(store.handle(StoreColumn.WILLS), session, io.durablemq.engine.will.WillCodec.encode(
                        io.durablemq.engine.will.StoredWill.of("wills/" + i, willPayload, 1, false, null, -1, 3600, null)
                                .endedAt(now)));
                store.write(b);
            }
        }
        try (WriteBatch b = new WriteBatch()) {
            for (int r = 0; r < RETAINED; r++) {
                byte[] payload = new byte[120];
                rnd.nextBytes(payload);
                Message m = new Message("retained/" + r, payload, 1, true, null, 0);
                b.put(store.handle(StoreColumn.RETAINED), Keys.retained(m.topic()), MessageCodec.encode(m));
            }
            store.write(b);
        }
    }

    private static void putBody(WriteBatch b, Store store, long id, Random rnd, int payloadBytes) throws Exception {
        byte[] payload = new byte[payloadBytes];
        rnd.nextBytes(payload);
        b.put(store.handle(StoreColumn.MESSAGES), Keys.message(id),
                MessageCodec.encode(Message.of("t/" + id, payload, 1)));
    }

    /** Creates {@code dir} with the standard contents, all of it flushed to SST files. */
    public static void create(Path dir) throws Exception {
        try (Store store = Store.open(dir, Durability.FSYNC)) {
            fill(store, CLIENTS, QUEUED_PER_CLIENT);
            // As the engine keeps them: the stored body count (and counts above 1: none here).
            io.durablemq.engine.delivery.RefCountRebuild.rewrite(store);
            store.flushAll();
        }
    }

    /** The SST files holding {@code column}'s data (store closed and reopened to list them). */
    public static List<Path> sstFiles(Path dir, StoreColumn column) throws Exception {
        List<Path> files = new ArrayList<>();
        try (Store store = Store.open(dir, Durability.FSYNC)) {
            for (LiveFileMetaData f : store.liveSstFiles()) {
                if (new String(f.columnFamilyName(), StandardCharsets.UTF_8).equals(column.cfName())) {
                    files.add(Path.of(f.path(), f.fileName().replaceFirst("^/", "")));
                }
            }
        }
        return files;
    }

    /**
     * Overwrites 64 bytes at offset 100 of the column family's (only) SST file: inside its
     * first data block (data blocks come first in an SST file; index, filter and footer are at
     * its end), so the file still opens and the damage shows at a read.
     */
    public static Path damageFirstDataBlock(Path dir, StoreColumn column) throws Exception {
        List<Path> files = sstFiles(dir, column);
        if (files.size() != 1) {
            throw new IllegalStateException(column.cfName() + " has " + files.size() + " SST files: " + files);
        }
        Path sst = files.get(0);
        try (RandomAccessFile f = new RandomAccessFile(sst.toFile(), "rw")) {
            if (f.length() < 2048) {
                throw new IllegalStateException(sst + " too small to hold a data block before its index: " + f.length());
            }
            byte[] garbage = new byte[64];
            new Random(7).nextBytes(garbage);
            f.seek(100);
            f.write(garbage);
        }
        return sst;
    }
}
