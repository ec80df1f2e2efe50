package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.support.RecordingListener;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.durablemq.cluster.ClusterHarness.await;
import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static io.durablemq.cluster.EngineClients.publish;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Raft snapshots on real Ratis servers (loopback) and real RocksDB stores: taken every K entries
 * with the log purged after them; installed on a follower that was wiped while the leader purged
 * what it would need; loaded at restart before the log tail is replayed; refused when damaged.
 */
@Timeout(240)
class SnapshotTest {
    /**
     * Small enough that a test runs through several snapshots and purges; each purge reaches its snapshot
     * (no preserved entries), so a follower stopped for a few entries needs an install (LogPreservationTest: the default).
     */
    private static final ClusterHarness.Options EVERY_20 =
            ClusterHarness.Options.DEFAULT.withSnapshots(new SnapshotPolicy(20, 2, 4 * 1024).withPreservedEntries(0));

    @RegisterExtension
    final Clusters clusters = new Clusters();
    private ClusterHarness cluster;

    @Test
    void aSnapshotIsTakenEveryKEntriesAndTheLogIsPurged() throws Exception {
        cluster = clusters.of(3, EVERY_20);
        cluster.startAll();
        Engine engine = cluster.services.get(cluster.awaitServing()).engine();
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, 150);

        for (int i = 0; i < 3; i++) {
            ClusterNode n = cluster.nodes.get(i);
            assertTrue(ClusterHarness.await(() -> n.snapshots().lastIndex() >= 100 && n.raftLogStartIndex() > 0, 30_000),
                    "node " + i + " took snapshots and purged its log: " + n.snapshots() + ", log starts at " + n.raftLogStartIndex());
            assertTrue(n.snapshots().taken() >= 2, "several snapshots on node " + i + ": " + n.snapshots());
            Path raft = cluster.raft(i);
            // Old ones are deleted right after a new one is written: wait for that moment to pass.
            assertTrue(ClusterHarness.await(() -> count(raft) <= 2, 10_000), "at most two snapshots kept on node " + i);
            List<Path> kept = ClusterHarness.snapshotFolders(raft);
            assertTrue(!kept.isEmpty(), "node " + i + " keeps its newest snapshot");
            assertTrue(Files.exists(kept.get(0).resolve(SnapshotManifest.FILE_NAME)), "the newest has its file list");
        }
    }

    @Test
    void aWipedFollowerInstallsTheLeadersSnapshotAndEndsWithTheSameStore() throws Exception {
        followerBehindAPurgeCatchesUpBySnapshot(true);
    }

    /** Not wiped: it has its own store, snapshots and log, all behind what the leader still has in its log. */
    @Test
    void aFollowerStoppedWhileTheLeaderPurgedInstallsTheSnapshotOnRestart() throws Exception {
        followerBehindAPurgeCatchesUpBySnapshot(false);
    }

    private void followerBehindAPurgeCatchesUpBySnapshot(boolean wipe) throws Exception {
        cluster = clusters.of(3, EVERY_20);
        cluster.startAll();
        int leader = cluster.awaitServing();
        Engine engine = cluster.services.get(leader).engine();
        offlineSubscriber(engine, "sub-a");
        offlineSubscriber(engine, "sub-b");
        publish(engine, "pub", 0, 30);

        int follower = (leader + 1) % 3;
        long followerApplied = cluster.nodes.get(follower).raftStatus().appliedIndex();
        cluster.stop(follower);
        publish(engine, "pub", 30, 200); // the leader snapshots and purges past what the follower has
        ClusterNode lead = cluster.nodes.get(leader);
        assertTrue(ClusterHarness.await(() -> lead.raftLogStartIndex() > followerApplied + 1, 30_000),
                "the leader purged entries the follower would need: log starts at " + lead.raftLogStartIndex()
                        + ", follower had applied " + followerApplied);

        if (wipe) {
            ClusterHarness.deleteTree(cluster.data(follower));
            ClusterHarness.deleteTree(cluster.raft(follower));
        }
        ClusterNode fresh = cluster.start(follower);
        long target = lead.raftStatus().lastIndex();
        assertTrue(ClusterHarness.await(() -> fresh.raftStatus().appliedIndex() >= target, 60_000),
                "the wiped follower caught up: applied " + fresh.raftStatus().appliedIndex() + " of " + target);
        assertTrue(fresh.snapshots().installed() >= 1, "it caught up by a snapshot: " + fresh.snapshots());
        publish(engine, "pub", 200, 210); // and then by the log
        long after = lead.raftStatus().lastIndex();
        assertTrue(ClusterHarness.await(() -> fresh.raftStatus().appliedIndex() >= after, 30_000), "applies the log after it");
        // Restarted, it rebuilds its store from the installed snapshot (or a newer one of its own) and the log after it.
        cluster.stop(follower);
        ClusterNode restarted = cluster.start(follower);
        publish(engine, "pub", 210, 220);
        long last = lead.raftStatus().lastIndex();
        assertTrue(ClusterHarness.await(() -> restarted.raftStatus().appliedIndex() >= last, 30_000),
                "restarted after the install, it catches up: " + restarted.raftStatus());
        long leaderApplied = lead.raftStatus().appliedIndex();

        cluster.stop(follower);
        cluster.close();
        Map<StoreColumn, String> leaderStore = ClusterHarness.scan(cluster.data(leader));
        Map<StoreColumn, String> followerStore = ClusterHarness.scan(cluster.data(follower));
        assertEquals(leaderStore, followerStore, "the follower's store equals the leader's, record for record (index " + leaderApplied + ")");
        try (Engine e = Engine.open(EngineService.config(cluster.data(follower)), new SimpleMeterRegistry())) {
            assertEquals(220, e.session("sub-a").queuedMessages());
            assertEquals(220, e.session("sub-b").queuedMessages());
        }
    }

    @Test
    void aRestartLoadsTheLatestSnapshotThenReplaysTheLogAfterIt() throws Exception {
        cluster = clusters.of(1, EVERY_20);
        cluster.start(0);
        cluster.awaitServing();
        Engine engine = cluster.services.get(0).engine();
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, 50);
        ClusterNode node = cluster.nodes.get(0);
        assertTrue(ClusterHarness.await(() -> node.raftLogStartIndex() > 0, 30_000), "the log was purged");
        long snapshotIndex = node.snapshots().lastIndex();
        // A tail after the snapshot: published messages beyond its index, only in the Raft log.
        int n = 50;
        while (node.raftStatus().appliedIndex() - node.snapshots().lastIndex() < 3 || node.snapshots().lastIndex() == snapshotIndex && n < 60) {
            publish(engine, "pub", n, n + 1);
            n++;
            if (n > 100) {
                break;
            }
        }
        long snapshotAt = node.snapshots().lastIndex();
        long appliedAt = node.raftStatus().appliedIndex();
        assertTrue(appliedAt > snapshotAt, "entries after the snapshot (" + snapshotAt + " < " + appliedAt + ")");
        cluster.stop(0);

        // The data folder is gone: only the snapshot and the log after it can rebuild it.
        ClusterHarness.deleteTree(cluster.data(0));
        ClusterNode again = cluster.start(0);
        cluster.awaitServing();
        assertEquals(snapshotAt, again.snapshots().lastIndex(), "started from its latest snapshot");
        assertTrue(again.raftStatus().appliedIndex() >= appliedAt, "and replayed the log after it");
        assertEquals(n, cluster.services.get(0).engine().session("sub").queuedMessages(),
                "every acknowledged message is back, those after the snapshot included");
    }

    @Test
    void aDamagedSnapshotRefusesToStartAndNamesItsFolder() throws Exception {
        cluster = clusters.of(1, EVERY_20);
        cluster.start(0);
        cluster.awaitServing();
        Engine engine = cluster.services.get(0).engine();
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, 40);
        ClusterNode node = cluster.nodes.get(0);
        assertTrue(ClusterHarness.await(() -> node.snapshots().lastIndex() > 0, 30_000));
        cluster.stop(0);
        Path latest = ClusterHarness.snapshotFolders(cluster.raft(0)).get(0);

        // One byte of one SST file changed.
        Path sst;
        try (var files = Files.list(latest)) {
            sst = files.filter(p -> p.toString().endsWith(".sst")).findFirst().orElseThrow();
        }
        Path saved = cluster.tmp.resolve("saved.sst");
        Files.copy(sst, saved);
        Files.delete(sst); // break the hard link: damage only the snapshot's copy
        Files.copy(saved, sst);
        try (RandomAccessFile f = new RandomAccessFile(sst.toFile(), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 0x5A);
        }
        SnapshotDamagedException changed = assertThrows(SnapshotDamagedException.class, () -> cluster.start(0));
        assertTrue(changed.getMessage().contains(latest.toString()), changed.getMessage());
        assertTrue(changed.getMessage().contains(sst.getFileName().toString()), changed.getMessage());

        // The file missing.
        Files.delete(sst);
        SnapshotDamagedException missing = assertThrows(SnapshotDamagedException.class, () -> cluster.start(0));
        assertTrue(missing.getMessage().contains(latest.toString()) && missing.getMessage().contains("missing"), missing.getMessage());

        // The file list itself missing.
        Files.copy(saved, sst);
        Files.delete(latest.resolve(SnapshotManifest.FILE_NAME));
        SnapshotDamagedException noList = assertThrows(SnapshotDamagedException.class, () -> cluster.start(0));
        assertTrue(noList.getMessage().contains(SnapshotManifest.FILE_NAME), noList.getMessage());

        // Every snapshot deleted while the log stays purged: the entries before the log's start exist nowhere here.
        for (Path folder : ClusterHarness.snapshotFolders(cluster.raft(0))) {
            ClusterHarness.deleteTree(folder);
        }
        java.io.IOException gap = assertThrows(java.io.IOException.class, () -> cluster.start(0));
        assertTrue(gap.getMessage().contains("starts at index") && gap.getMessage().contains(cluster.raft(0).toString()),
                gap.getMessage());
    }

    /**
     * Bodies of 4 KiB and more live in blob files: a snapshot (a RocksDB checkpoint) must list
     * them in its manifest with their checksums, restore them (the data folder deleted, the node
     * rebuilds its store from the snapshot) and refuse a snapshot whose blob file was altered.
     */
    @Test
    void aSnapshotOfLargeBodiesListsRestoresAndChecksItsBlobFiles() throws Exception {
        cluster = clusters.of(1, EVERY_20);
        cluster.start(0);
        cluster.awaitServing();
        Engine engine = cluster.services.get(0).engine();
        offlineSubscriber(engine, "sub");
        byte[] big = new byte[8 * 1024];
        java.util.Arrays.fill(big, (byte) 'b');
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        for (int i = 0; i < 40; i++) {
            await(pub.publish(i + 1, Message.of("t/big", big, 1)));
        }
        await(pub.disconnect(-1));
        ClusterNode node = cluster.nodes.get(0);
        assertTrue(ClusterHarness.await(() -> node.snapshots().lastIndex() > 0, 30_000));
        cluster.stop(0);
        Path latest = ClusterHarness.snapshotFolders(cluster.raft(0)).get(0);
        SnapshotManifest manifest = SnapshotManifest.read(latest);
        List<SnapshotManifest.Entry> blobs = manifest.files().stream().filter(e -> e.name().endsWith(".blob")).toList();
        assertTrue(!blobs.isEmpty(), "the manifest lists blob files: " + manifest.files());

        ClusterHarness.deleteTree(cluster.data(0));
        cluster.start(0);
        cluster.awaitServing();
        long queued = cluster.services.get(0).engine().session("sub").queuedMessages();
        assertTrue(queued >= 1 && queued <= 40, "restored from the snapshot with its blob files: " + queued);
        cluster.stop(0);

        Path blob = latest.resolve(blobs.get(0).name());
        Path saved = cluster.tmp.resolve("saved.blob");
        Files.copy(blob, saved);
        Files.delete(blob); // break the hard link: damage only the snapshot's copy
        Files.copy(saved, blob);
        try (RandomAccessFile f = new RandomAccessFile(blob.toFile(), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 0x5A);
        }
        SnapshotDamagedException changed = assertThrows(SnapshotDamagedException.class, () -> cluster.start(0));
        assertTrue(changed.getMessage().contains(blob.getFileName().toString()), changed.getMessage());
    }

    private static int count(Path raft) {
        try {
            return ClusterHarness.snapshotFolders(raft).size();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
