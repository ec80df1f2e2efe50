package io.durablemq.engine.store;

import io.durablemq.engine.support.EngineFixture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The column-family options are options only: a store written with the options every store had
 * before ({@code GENERIC}) opens with the tuned ones and back, through the whole engine, with
 * every queued message; and RocksDB really runs with the tuned options (its OPTIONS file says so).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ColumnOptionsTest {
    @TempDir
    Path dir;

    @AfterEach
    void clearProfile() {
        System.clearProperty(ColumnOptions.PROFILE_PROPERTY);
    }

    @Test
    void aStoreWrittenWithTheOldOptionsOpensWithEveryProfileAndBack() throws Exception {
        System.setProperty(ColumnOptions.PROFILE_PROPERTY, "generic");
        try (EngineFixture fx = new EngineFixture(dir)) {
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("t/#", 1);
            sub.disconnect();
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            for (int i = 1; i <= 200; i++) {
                // every tenth body is 8 KiB, above the blob threshold of TUNED_BLOBS (the default)
                String payload = i % 10 == 0 ? "x".repeat(8192) + i : "m" + i;
                pub.publish(i, "t/" + i, payload, 1);
            }
            assertEquals(200, fx.engine().stats().queuedMessages());
        }
        assertTrue(!optionsFileMentions("CompactOnDeletionCollector") && !optionsFileMentions("ttl=" + ColumnOptions.SHORT_LIVED_TTL_SECONDS),
                "the generic profile is RocksDB's defaults (TTL 30 days, no collector)");
        for (String profile : new String[] {"tuned", "generic", "tuned"}) {
            System.setProperty(ColumnOptions.PROFILE_PROPERTY, profile);
            try (EngineFixture fx = new EngineFixture(dir)) {
                assertEquals(200, fx.engine().recoveryReport().queuedMessages(), "reopened with " + profile);
            }
        }
        // A store written before blob files (no .blob file, bodies in SST files) opened with the
        // default profile: its old bodies stay readable in the SSTs, new large ones go to blob files.
        System.clearProperty(ColumnOptions.PROFILE_PROPERTY);
        assertEquals(ColumnOptions.Profile.TUNED_BLOBS, ColumnOptions.Profile.configured(), "blob files are the default");
        try (EngineFixture fx = new EngineFixture(dir)) {
            assertEquals(200, fx.engine().recoveryReport().queuedMessages(), "reopened with the default profile");
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "t/new", "y".repeat(8192), 1);
            assertEquals(201, fx.engine().stats().queuedMessages());
        }
        assertTrue(optionsFileMentions("enable_blob_files=true"), "blob files in force by default");
        assertTrue(optionsFileMentions("min_blob_size=" + ColumnOptions.MIN_BLOB_BYTES), "the blob threshold in force");
        assertTrue(optionsFileMentions("enable_blob_garbage_collection=true"), "blob GC in force");
        assertTrue(io.durablemq.engine.check.StoreVerifier.verify(dir).ok(), io.durablemq.engine.check.StoreVerifier.verify(dir).toText());
        System.setProperty(ColumnOptions.PROFILE_PROPERTY, "generic");
        try (EngineFixture fx = new EngineFixture(dir)) {
            assertEquals(201, fx.engine().recoveryReport().queuedMessages(), "back to the generic options, blob files and all");
        }
        System.setProperty(ColumnOptions.PROFILE_PROPERTY, "tuned");
        try (EngineFixture fx = new EngineFixture(dir)) {
            assertEquals(201, fx.engine().recoveryReport().queuedMessages(), "tuned without blob files reads them too");
        }
        assertTrue(optionsFileMentions("ttl=" + ColumnOptions.SHORT_LIVED_TTL_SECONDS), "tuned TTL in force");
        assertTrue(optionsFileMentions("CompactOnDeletionCollector"), "tombstone collector in force");
        assertTrue(optionsFileMentions("bloomfilter"), "bodies' Bloom filter in force");
    }

    @Test
    void bodiesInBlobFilesReadBackWithTheGenericOptions() throws Exception {
        byte[] key = Keys.message(7);
        byte[] big = new byte[64 * 1024];
        Arrays.fill(big, (byte) 'b');
        try (Store store = Store.open(dir, Durability.FSYNC, ColumnOptions.Profile.TUNED_BLOBS);
             WriteBatch batch = new WriteBatch()) {
            batch.put(store.handle(StoreColumn.MESSAGES), key, big);
            store.write(batch);
            store.flushAll();
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.anyMatch(p -> p.toString().endsWith(".blob")), "the body went to a blob file");
        }
        try (Store store = Store.open(dir, Durability.FSYNC, ColumnOptions.Profile.GENERIC)) {
            assertArrayEquals(big, store.get(StoreColumn.MESSAGES, key));
        }
    }

    @Test
    void anUnknownProfileIsRefusedByName() {
        System.setProperty(ColumnOptions.PROFILE_PROPERTY, "fast");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, ColumnOptions.Profile::configured);
        assertTrue(e.getMessage().contains("'fast'"), e.getMessage());
    }

    /** The newest OPTIONS file RocksDB wrote: what it really runs with. */
    private boolean optionsFileMentions(String text) throws IOException {
        Path newest;
        try (Stream<Path> files = Files.list(dir)) {
            newest = files.filter(p -> p.getFileName().toString().startsWith("OPTIONS-"))
                    .max(Comparator.comparing(p -> p.getFileName().toString())).orElseThrow();
        }
        return Files.readString(newest).contains(text);
    }
}
