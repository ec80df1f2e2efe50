package io.durablemq.bench.fill;

import io.durablemq.engine.delivery.BodyRefs;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.queue.QueueCounters;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import io.durablemq.engine.topic.SubscriptionCodec;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.IntFunction;
import java.util.function.LongFunction;

/**
 * Writes, straight into RocksDB, the store the engine would hold after {@code sessions} offline
 * persistent sessions subscribed at QoS 1 to one topic and {@code messages} QoS 1 messages were
 * published to it: each message's body once (ids 1..messages, as a fresh engine numbers them),
 * its reference count ({@code sessions}) and meta's {@code stored-bodies}, every session's
 * version-2 record with its queue counters, its subscription and its {@code messages} queue
 * entries (seq 1..messages). Every record is encoded by the engine's own classes ({@link Keys},
 * {@link SessionRecord}, {@link QueueEntry}, {@link MessageCodec}, {@link SubscriptionCodec},
 * {@link BodyRefs}); the store is opened with {@link Store#open} (its column options, its format
 * record) and written in large batches without the WAL, flushed at the end.
 *
 * <p>Why: filling 10^8 entries through the engine rewrites every session record per fan-out
 * message and runs at 10-30k entries/s on the shared machine (hours); this writes the same
 * records in key order. {@code BulkBacklogStoreTest} proves the records equal an engine fill's.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar io.durablemq.bench.fill.BulkBacklogStore DIR SESSIONS MESSAGES</pre>
 * writes {@code backlog-start.sh}'s shape: client ids {@code bl-1..bl-SESSIONS}, topic
 * {@code backlog/t}, 64-byte payloads {@code m<9 digits>-xxx...} numbered from 1.
 */
public final class BulkBacklogStore {

    /** Entries per write batch: large enough to amortise the write, small enough for a small heap. */
    private static final int BATCH_ENTRIES = 100_000;

    /**
     * What to build.
     *
     * @param clientId   the client id of session {@code 0..sessions-1}
     * @param payload    the payload of message {@code 0..messages-1}
     * @param nowMillis  the disconnect and enqueue time written into the records
     */
    public record Spec(int sessions, long messages, String topic, IntFunction<String> clientId,
                       LongFunction<byte[]> payload, long expirySeconds, long nowMillis) {
        public Spec {
            if (sessions < 1 || messages < 1) {
                throw new IllegalArgumentException("sessions and messages must be at least 1: " + sessions + ", " + messages);
            }
        }

        /** {@code backlog-start.sh}'s shape: {@code bl-N}, {@code backlog/t}, {@code m<9 digits>-} padded to 64 bytes. */
        public static Spec backlogScript(int sessions, long messages) {
            return new Spec(sessions, messages, "backlog/t", s -> "bl-" + (s + 1),
                    i -> scriptPayload(i + 1), ConnectRequest.NEVER_EXPIRES, System.currentTimeMillis());
        }
    }

    /** What was written. */
    public record Report(long sessions, long bodies, long entries, long nanos) {
    }

    private BulkBacklogStore() {
    }

    /** The script's line {@code m%09d-} followed by 53 {@code x}: 64 bytes. */
    public static byte[] scriptPayload(long n) {
        byte[] p = new byte[64];
        Arrays.fill(p, (byte) 'x');
        byte[] head = String.format("m%09d-", n).getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(head, 0, p, 0, head.length);
        return p;
    }

    public static Report build(Path dir, Spec spec) throws Exception {
        if (Files.exists(dir) && Files.list(dir).findAny().isPresent()) {
            throw new IllegalArgumentException("not an empty folder: " + dir);
        }
        long t0 = System.nanoTime();
        long entries = 0;
        try (Store store = Store.open(dir, Durability.OS)) {
            byte[][] sessionKeys = new byte[spec.sessions()][];
            for (int s = 0; s < spec.sessions(); s++) {
                sessionKeys[s] = Keys.session(spec.clientId().apply(s));
            }
            // Key order, so each column family's memtables flush to files that do not overlap.
            Arrays.sort(sessionKeys, Arrays::compareUnsigned);
            int size = Message.of(spec.topic(), spec.payload().apply(0), 1).sizeEstimate();
            try (Batches out = new Batches(store)) {
                // Bodies 1..messages, as a fresh engine numbers them; each referenced by every session.
                for (long i = 0; i < spec.messages(); i++) {
                    Message m = Message.of(spec.topic(), spec.payload().apply(i), 1);
                    if (m.sizeEstimate() != size) {
                        throw new IllegalArgumentException("payload " + i + " differs in size from payload 0");
                    }
                    out.put(StoreColumn.MESSAGES, Keys.message(i + 1), MessageCodec.encode(m));
                    if (spec.sessions() > 1) { // absent = 1
                        out.put(StoreColumn.REFCOUNTS, Keys.message(i + 1), BodyRefs.encode(spec.sessions()));
                    }
                }
                out.put(StoreColumn.META, StoreFormat.STORED_BODIES_KEY, BodyRefs.encodeStoredBodies(spec.messages()));
                // The message-id ceiling a fresh engine writes (message.MessageIds): above every id used here.
                out.put(StoreColumn.META, StoreFormat.MESSAGE_ID_CEILING_KEY, java.nio.ByteBuffer.allocate(8)
                        .putLong(spec.messages() + 1 + io.durablemq.engine.message.MessageIds.BLOCK).array());
                byte[] subscription = SubscriptionCodec.encode(SubscriptionOptions.ofQos(1));
                byte[] sessionValue = new SessionRecord(spec.expirySeconds(), spec.nowMillis(),
                        new QueueCounters(spec.messages(), spec.messages() * size, spec.messages() + 1)).encode();
                for (byte[] key : sessionKeys) {
                    out.put(StoreColumn.SESSIONS, key, sessionValue);
                    out.put(StoreColumn.SUBSCRIPTIONS, Keys.subscription(key, spec.topic()), subscription);
                }
                for (byte[] key : sessionKeys) {
                    for (long i = 0; i < spec.messages(); i++) {
                        QueueEntry e = new QueueEntry(i + 1, i + 1, 1, false, 0, spec.nowMillis(), size, new int[0]);
                        out.put(StoreColumn.QUEUES, Keys.queueEntry(key, e.seq()), e.encodeValue());
                        entries++;
                    }
                }
            }
            store.flushAll();
        }
        return new Report(spec.sessions(), spec.messages(), entries, System.nanoTime() - t0);
    }

    /** Puts gathered into batches of {@value #BATCH_ENTRIES}, written without the WAL. */
    private static final class Batches implements AutoCloseable {
        private final Store store;
        private WriteBatch batch = new WriteBatch();
        private int count;
        private long written;

        Batches(Store store) {
            this.store = store;
        }

        void put(StoreColumn column, byte[] key, byte[] value) throws RocksDBException {
            batch.put(store.handle(column), key, value);
            if (++count == BATCH_ENTRIES) {
                flush();
            }
        }

        private void flush() throws RocksDBException {
            store.writeWithoutWal(batch);
            written += count;
            if (written % 10_000_000 < BATCH_ENTRIES && written >= 10_000_000) {
                System.out.printf("  %,d records written%n", written);
            }
            batch.close();
            batch = new WriteBatch();
            count = 0;
        }

        @Override
        public void close() throws RocksDBException {
            if (count > 0) {
                flush();
            }
            batch.close();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: BulkBacklogStore DIR SESSIONS MESSAGES   (backlog-start.sh's shape: bl-N, backlog/t, 64-byte payloads)");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        Spec spec = Spec.backlogScript(Integer.parseInt(args[1]), Long.parseLong(args[2]));
        Report r = build(dir, spec);
        System.out.printf("built %s: %,d sessions, %,d bodies, %,d queue entries in %.1f s (%,.0f entries/s)%n",
                dir, r.sessions(), r.bodies(), r.entries(), r.nanos() / 1e9, r.entries() / (r.nanos() / 1e9));
    }
}
