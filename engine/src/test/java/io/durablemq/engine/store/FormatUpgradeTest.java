package io.durablemq.engine.store;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionRecord;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.will.StoredWill;
import io.durablemq.engine.will.WillGate;
import io.durablemq.engine.message.MessageProperties;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.WriteOptions;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A store written in format 1 (the layout before wills: no {@code wills} column family,
 * format-version 1) is upgraded on open: the column family is created, version 2 written,
 * and every record kept. The format-1 store is built here by writing that layout with
 * RocksDB directly, as the format-1 code wrote it.
 */
@Timeout(60)
class FormatUpgradeTest {
    private static final List<String> FORMAT_1_COLUMNS = List.of("meta", "sessions", "subscriptions", "messages",
            "queues", "inflight", "qos2-received", "retained");

    @TempDir
    Path dir;

    private void writeFormat1Store() throws Exception {
        Store.class.getName(); // loads the native library the way the engine does
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY));
        for (String c : FORMAT_1_COLUMNS) {
            descriptors.add(new ColumnFamilyDescriptor(c.getBytes(StandardCharsets.UTF_8)));
        }
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try (DBOptions options = new DBOptions().setCreateIfMissing(true).setCreateMissingColumnFamilies(true);
             RocksDB db = RocksDB.open(options, dir.toString(), descriptors, handles);
             WriteOptions sync = new WriteOptions().setSync(true)) {
            db.put(handles.get(1), sync, StoreFormat.VERSION_KEY, ByteBuffer.allocate(4).putInt(1).array());
            db.put(handles.get(1), sync, StoreFormat.CREATED_KEY, ByteBuffer.allocate(8).putLong(1L).array());
            db.put(handles.get(2), sync, Keys.session("old-client"), new SessionRecord(3600, System.currentTimeMillis()).encode());
            db.put(handles.get(8), sync, Keys.retained("old/topic"),
                    MessageCodec.encode(Message.of("old/topic", "kept".getBytes(StandardCharsets.UTF_8), 1)));
            for (ColumnFamilyHandle h : handles) {
                h.close();
            }
        }
    }

    private List<String> columnFamilies() throws Exception {
        List<String> names = new ArrayList<>();
        try (Options o = new Options()) {
            for (byte[] n : RocksDB.listColumnFamilies(o, dir.toString())) {
                names.add(new String(n, StandardCharsets.UTF_8));
            }
        }
        return names;
    }

    @Test
    void aFormat1StoreIsVerifiedAsIsThenUpgradedOnOpenKeepingItsRecords() throws Exception {
        writeFormat1Store();
        assertFalse(columnFamilies().contains("wills"));
        VerifyReport before = StoreVerifier.verify(dir); // read-only: a format-1 store verifies as it is
        assertTrue(before.ok(), before.toText());
        assertEquals(1, before.formatVersion());
        assertFalse(columnFamilies().contains("wills"), "verify changed nothing");

        EngineConfig config = EngineConfig.defaults(dir).withDurability(Durability.FSYNC);
        ch.qos.logback.classic.Logger upgradeLog =
                (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(FormatUpgrade.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
                new ch.qos.logback.core.read.ListAppender<>();
        logged.start();
        upgradeLog.addAppender(logged);
        try (Engine engine = Engine.open(config, new SimpleMeterRegistry())) {
            assertEquals(1, engine.recoveryReport().sessions());
            assertEquals(1, engine.recoveryReport().retainedMessages());
            engine.startWills(WillGate.ALLOW_ALL);
            await(engine.connect(new ConnectRequest("old-client", false, 3600, 10), new RecordingListener(),
                    StoredWill.of("w/t", new byte[]{1}, 1, false, MessageProperties.NONE, -1, 5, null)));
        }
        assertTrue(columnFamilies().contains("wills"));
        VerifyReport after = StoreVerifier.verify(dir);
        assertTrue(after.ok(), after.toText());
        assertEquals(2, after.formatVersion());
        assertEquals(1, after.inventory().wills());
        assertEquals(1, after.inventory().retained());

        try (Engine reopened = Engine.open(config, new SimpleMeterRegistry())) { // a format-2 store opens as is
            assertEquals(1, reopened.recoveryReport().sessions());
        } finally {
            upgradeLog.detachAppender(logged);
        }
        assertEquals(1, logged.list.stream()
                .filter(e -> e.getFormattedMessage().contains("from format 1 to format 2")).count(),
                "the upgrade is logged once, on the first open only");
    }
}
