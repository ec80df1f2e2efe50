package io.durablemq.engine.check;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionCodec;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.will.StoredWill;
import io.durablemq.engine.will.WillCodec;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads every record of every data column family in key order, decodes it and hands it to a
 * visitor. It writes nothing. After each column family it asks the iterator for its status:
 * RocksDB ends an iteration at a damaged block by turning {@code isValid()} false, which
 * without that question looks exactly like the end of the data. Checksums are verified on
 * every block read, and the scan does not fill the block cache (it reads everything once).
 *
 * <p>Order: sessions, subscriptions, queues, in-flight, QoS 2 receive records, wills, message bodies,
 * retained messages, so that a visitor has seen every session before its records and every
 * reference before the bodies.
 */
public final class StoreScan {
    /** What to do when a column family cannot be read to its end. */
    public enum OnError {
        /** Record the error and go on with the next column family (recovery, verify). */
        STOP_COLUMN,
        /** Record the error, skip the damaged range and read on after it (repair's salvage). */
        SKIP_DAMAGED_RANGE
    }

    public static final List<StoreColumn> ORDER = List.of(StoreColumn.SESSIONS, StoreColumn.SUBSCRIPTIONS,
            StoreColumn.QUEUES, StoreColumn.INFLIGHT, StoreColumn.QOS2_RECEIVED, StoreColumn.WILLS, StoreColumn.MESSAGES,
            StoreColumn.REFCOUNTS, StoreColumn.RETAINED);
    private static final int MAX_SKIPS_PER_COLUMN = 1000;
    private static final Pattern FILE = Pattern.compile("(\\S+\\.(sst|log))");

    /** What a scan saw: read errors and the number of records read per column family. */
    public record Result(List<ReadError> errors, Map<StoreColumn, Long> records) {
        public long totalRecords() {
            return records.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private final ColumnSource source;
    private final OnError onError;
    private final boolean readBodies;
    private final List<StoreColumn> columns;

    /** @param readBodies false: message bodies are visited by key only (recovery); true: their values are decoded too */
    public StoreScan(ColumnSource source, OnError onError, boolean readBodies) {
        this(source, onError, readBodies, ORDER);
    }

    /** Scans only {@code columns} (in {@link #ORDER}'s order): recovery reads neither queues nor bodies. */
    public StoreScan(ColumnSource source, OnError onError, boolean readBodies, List<StoreColumn> columns) {
        this.source = source;
        this.onError = onError;
        this.readBodies = readBodies;
        this.columns = ORDER.stream().filter(columns::contains).toList();
    }

    public Result run(StoreRecordVisitor visitor) {
        List<ReadError> errors = new ArrayList<>();
        Map<StoreColumn, Long> counts = new EnumMap<>(StoreColumn.class);
        try (ReadOptions options = new ReadOptions().setVerifyChecksums(true).setFillCache(false)) {
            for (StoreColumn c : columns) {
                counts.put(c, walk(c, options, visitor, errors));
            }
        }
        return new Result(List.copyOf(errors), counts);
    }

    private long walk(StoreColumn column, ReadOptions options, StoreRecordVisitor visitor, List<ReadError> errors) {
        boolean wantValue = column != StoreColumn.MESSAGES || readBodies;
        byte[] start = null;
        byte[] last = null;
        long n = 0;
        for (int skips = 0; ; skips++) {
            try (RocksIterator it = source.iterator(column, options)) {
                if (it == null) {
                    return 0; // a store of an older format without this column family
                }
                if (start == null) {
                    it.seekToFirst();
                } else {
                    it.seek(start);
                }
                for (; it.isValid(); it.next()) {
                    last = it.key();
                    n++;
                    dispatch(column, last, wantValue ? it.value() : null, visitor);
                }
                try {
                    it.status();
                    return n;
                } catch (RocksDBException e) {
                    String message = String.valueOf(e.getMessage());
                    String after = KeyText.describe(column, last);
                    if (onError == OnError.STOP_COLUMN || skips >= MAX_SKIPS_PER_COLUMN) {
                        errors.add(new ReadError(column, fileNamedIn(message), message, after, null));
                        return n;
                    }
                    start = DamageSkip.targetPast(source, column, options, last);
                    byte[] resumedKey = start == null ? null : firstKeyAt(column, options, start);
                    String resumed = resumedKey == null ? "end" : KeyText.describe(column, resumedKey);
                    errors.add(new ReadError(column, fileNamedIn(message), message, after, resumed,
                            last == null ? null : KeyText.clientOf(column, last),
                            resumedKey == null ? null : KeyText.clientOf(column, resumedKey)));
                    if (start == null) {
                        return n;
                    }
                }
            }
        }
    }

    private byte[] firstKeyAt(StoreColumn column, ReadOptions options, byte[] target) {
        try (RocksIterator it = source.iterator(column, options)) {
            it.seek(target);
            return it.isValid() ? it.key() : null;
        }
    }

    /** Decodes the record, then visits it; a visitor's own exceptions are not taken for bad records. */
    private static void dispatch(StoreColumn column, byte[] key, byte[] value, StoreRecordVisitor v) {
        Runnable visit;
        try {
            visit = decode(column, key, value, v);
        } catch (RuntimeException e) {
            v.undecodable(column, key, e.toString());
            return;
        }
        visit.run();
    }

    private static Runnable decode(StoreColumn column, byte[] key, byte[] value, StoreRecordVisitor v) {
        switch (column) {
            case SESSIONS -> {
                checkKey(key.length == Keys.sessionPrefixLength(key), "session key length");
                String client = Keys.clientIdOf(key);
                SessionRecord r = SessionRecord.decode(value);
                return () -> v.session(client, r, key, value);
            }
            case SUBSCRIPTIONS -> {
                String client = Keys.clientIdOf(key);
                String filter = Keys.filterOf(key);
                SubscriptionOptions o = SubscriptionCodec.decode(value);
                return () -> v.subscription(client, filter, o, key, value);
            }
            case QUEUES -> {
                checkKey(key.length == Keys.sessionPrefixLength(key) + 8, "queue key length");
                String client = Keys.clientIdOf(key);
                QueueEntry e = QueueEntry.decode(Keys.seqOf(key), value);
                return () -> v.queueEntry(client, e, key, value);
            }
            case INFLIGHT -> {
                checkKey(key.length == Keys.sessionPrefixLength(key) + 2, "in-flight key length");
                String client = Keys.clientIdOf(key);
                InflightEntry e = InflightEntry.decode(Keys.packetIdOf(key), value);
                return () -> v.inflight(client, e, key, value);
            }
            case QOS2_RECEIVED -> {
                checkKey(key.length == Keys.sessionPrefixLength(key) + 2, "QoS 2 key length");
                String client = Keys.clientIdOf(key);
                int packetId = Keys.packetIdOf(key);
                return () -> v.qos2Received(client, packetId, key, value);
            }
            case MESSAGES -> {
                checkKey(key.length == 8, "message key length");
                if (value != null) {
                    MessageCodec.decode(value);
                }
                long id = Keys.messageIdOf(key);
                return () -> v.body(id, key, value);
            }
            case REFCOUNTS -> {
                checkKey(key.length == 8, "reference count key length");
                checkKey(value != null && value.length == 4, "reference count value length");
                long id = Keys.messageIdOf(key);
                int count = java.nio.ByteBuffer.wrap(value).getInt();
                return () -> v.refCount(id, count, key, value);
            }
            case WILLS -> {
                checkKey(key.length == Keys.sessionPrefixLength(key), "will key length");
                String client = Keys.clientIdOf(key);
                StoredWill w = WillCodec.decode(value);
                return () -> v.will(client, w, key, value);
            }
            case RETAINED -> {
                Message m = MessageCodec.decode(value);
                return () -> v.retained(m, key, value);
            }
            default -> throw new IllegalArgumentException(column.cfName() + " is not scanned");
        }
    }

    private static void checkKey(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("bad " + what);
        }
    }

    /** The SST or WAL file RocksDB names in an error message, or null. */
    public static String fileNamedIn(String message) {
        Matcher m = FILE.matcher(message);
        return m.find() ? m.group(1) : null;
    }
}
