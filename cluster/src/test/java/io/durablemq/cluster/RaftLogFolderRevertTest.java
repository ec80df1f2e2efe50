package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static io.durablemq.cluster.EngineClients.publish;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a power cut leaves in a Raft log folder when it reverts a folder change Ratis made without
 * fsyncing the folder (a segment's creation, its rename from {@code log_inprogress_N} to {@code log_N-M}),
 * while the segments' fsynced contents stay; emulated on a stopped follower of a real three-node cluster
 * (Ratis 3.3.0 writing its own segments, 4 KB each, fsync mode), then started again
 * (docs/CLUSTER.md, "A power cut that reverts a rename or a file creation"). The data folder is deleted
 * with each change: the store is written without fsync, so a power cut may take any of its recent writes,
 * and a store ahead of its log is refused by another check ({@code ExactReplayTest}).
 *
 * <p>Each state either recovers exactly (the follower's log, entry for entry, and its store equal the
 * leader's; what it lacked came back from the leader) or refuses to start naming the files.
 */
@Timeout(240)
class RaftLogFolderRevertTest {
    private static final ClusterHarness.Options SMALL_SEGMENTS = ClusterHarness.Options.DEFAULT
            .withDurability(Durability.FSYNC)
            .withSnapshots(new SnapshotPolicy(1_000_000, 2, 4 * 1024));
    private static final int MESSAGES = 80;

    @RegisterExtension
    final Clusters clusters = new Clusters();

    /**
     * The window {@link RaftLogFolderSync} leaves open: the newest full segment was renamed and the next one
     * created, and the power cut came before an entry of the new segment was flushed, reverting the rename; the
     * new file exists without an entry. Ratis deletes the empty file and takes the old one as its open segment.
     */
    @Test
    void aRenameRevertedBeforeTheNextSegmentHeldAnEntryRecoversExactly() throws Exception {
        Stopped s = aFollowerWithSeveralSegments();
        Path closed = s.newestClosed();
        Path open = s.openSegment();
        Files.delete(open); // its entries were never flushed in this state: the leader and the third node hold them
        Files.createFile(open);
        Files.move(closed, s.folder().resolve("log_inprogress_" + startOf(closed)));
        ClusterHarness.deleteTree(s.cluster().data(s.follower()));

        s.cluster().start(s.follower());
        assertRecoveredExactly(s);
    }

    /**
     * A rename reverted while the next segment kept its fsynced entries: before {@link RaftLogFolderSync} a real
     * disk could show it. Ratis alone refuses too, but says "Found a gap between logs" naming the segments around
     * the open one (no entry is missing: it is misnamed); the node refuses before Ratis starts, naming both files.
     */
    @Test
    void aRenameRevertedUnderASegmentWithEntriesRefusesNamingBothFiles() throws Exception {
        Stopped s = aFollowerWithSeveralSegments();
        Path closed = s.newestClosed();
        Path open = s.openSegment();
        Path reverted = s.folder().resolve("log_inprogress_" + startOf(closed));
        Files.move(closed, reverted);

        java.io.IOException refused = assertThrows(java.io.IOException.class, () -> s.cluster().start(s.follower()));
        assertTrue(refused.getMessage().contains(reverted.getFileName() + " still open"), refused.getMessage());
        assertTrue(refused.getMessage().contains(open.getFileName().toString()), refused.getMessage());
        assertTrue(Files.exists(reverted) && Files.exists(open), "the refusal changed no file");
    }

    /**
     * The same with an older segment renamed back, so a closed segment follows it: a middle one (Ratis alone: "gap"
     * again), and the first one, which Ratis's own check (against the closed segment before it) cannot see.
     */
    @Test
    void anOlderRenameRevertedRefusesToo() throws Exception {
        Stopped s = aFollowerWithSeveralSegments();
        List<Path> closed = s.closedSegments();
        for (Path older : List.of(closed.get(closed.size() - 2), closed.get(0))) {
            Path reverted = s.folder().resolve("log_inprogress_" + startOf(older));
            Files.move(older, reverted);
            java.io.IOException refused = assertThrows(java.io.IOException.class, () -> s.cluster().start(s.follower()));
            assertTrue(refused.getMessage().contains(reverted.getFileName() + " still open"), refused.getMessage());
            Files.move(reverted, older);
        }
        s.cluster().start(s.follower());
        assertRecoveredExactly(s);
    }

    /**
     * The newest segment's creation reverted, its fsynced entries gone with it (before {@link RaftLogFolderSync}
     * possible on a real disk; since then the folder is fsynced before an entry of a new segment counts as
     * flushed). Ratis accepts the shorter log without a word: the node starts, alone, with its log ending at
     * the previous segment's end. Here the leader and the third node still hold the lost entries, so they come
     * back; had this node been part of the only majority holding them, they would be lost (why the sync exists).
     */
    @Test
    void aVanishedNewestSegmentIsAcceptedSilentlyAndRefilledByTheLeader() throws Exception {
        Stopped s = aFollowerWithSeveralSegments();
        long lastBefore = lastIndexOf(s.closedSegments().get(s.closedSegments().size() - 1));
        Files.delete(s.openSegment());
        ClusterHarness.deleteTree(s.cluster().data(s.follower()));
        int other = 3 - s.leader() - s.follower();
        s.cluster().stop(s.leader());
        s.cluster().stop(other);

        ClusterNode alone = s.cluster().start(s.follower());
        assertEquals(lastBefore, alone.raftStatus().lastIndex(), "Ratis loaded the log up to the last segment left, no error");
        s.cluster().start(s.leader());
        s.cluster().start(other);
        s.cluster().awaitServing();
        assertRecoveredExactly(s);
    }

    /**
     * Why the sync exists, the control: the same vanished segment on a node that was part of the only majority
     * holding its entries. The third node is down while they are acknowledged; then this node's power cut (the
     * segment's creation reverted, its store's unsynced writes gone) and the leader's death: the two survivors
     * elect this node, whose log ends before them, and acknowledged messages are gone without an error. A real
     * disk can show this state only while a new segment's entries can be flushed before the folder is
     * ({@link RaftLogFolderSync} closes that).
     */
    @Test
    void aVanishedSegmentOnTheOnlyMajorityHoldingItLosesAcknowledgedMessages() throws Exception {
        ClusterHarness cluster = clusters.of(3, SMALL_SEGMENTS);
        int leader = cluster.startAll();
        Engine engine = cluster.engine(leader);
        offlineSubscriber(engine, "sub");
        int follower = (leader + 1) % 3;
        int third = (leader + 2) % 3;
        cluster.awaitApplied(third, cluster.nodes.get(leader).raftStatus().lastIndex());
        cluster.stop(third);
        publish(engine, "pub", 0, MESSAGES); // acknowledged by the leader and this follower only
        cluster.awaitApplied(follower, cluster.nodes.get(leader).raftStatus().lastIndex());
        cluster.stop(follower);
        cluster.stop(leader);
        Stopped s = new Stopped(cluster, leader, follower, RaftLogFiles.currentFolder(cluster.raft(follower)));
        Files.delete(s.openSegment());
        ClusterHarness.deleteTree(cluster.data(follower));

        cluster.start(follower);
        cluster.start(third);
        int serving = cluster.awaitServing();
        assertEquals(follower, serving, "the node with the longer log leads");
        long queued = cluster.engine(serving).session("sub").queuedMessages();
        System.out.println("vanished segment on the only majority: " + (MESSAGES - queued) + " of " + MESSAGES + " acknowledged messages lost");
        assertTrue(queued < MESSAGES, "acknowledged messages lost without an error: " + (MESSAGES - queued) + " of " + MESSAGES);
    }

    /** The sync is wired: every segment file in the folder of a node that wrote across many segments was in a folder fsync. */
    @Test
    void everySegmentFileOfAWritingNodeIsInAFolderSync() throws Exception {
        Stopped s = aFollowerWithSeveralSegments();
        ClusterNode leader = s.cluster().nodes.get(s.leader());
        RaftLogFolderSync sync = leader.logFolderSync();
        try (Stream<Path> files = Files.list(RaftLogFiles.currentFolder(s.cluster().raft(s.leader())))) {
            List<String> names = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("log_")).sorted().toList();
            assertEquals(names, sync.synced().keySet().stream().sorted().toList(),
                    "the folder as last fsynced is the folder now (the last change came before the last flush)");
            assertTrue(sync.folderSyncs() >= names.size(), "one folder fsync per new segment at least: " + sync.folderSyncs());
        }
    }

    private record Stopped(ClusterHarness cluster, int leader, int follower, Path folder) {
        List<Path> closedSegments() throws IOException {
            try (Stream<Path> files = Files.list(folder)) {
                return files.filter(p -> p.getFileName().toString().matches("log_\\d+-\\d+"))
                        .sorted(Comparator.comparingLong(RaftLogFolderRevertTest::startOf)).toList();
            }
        }

        Path newestClosed() throws IOException {
            List<Path> closed = closedSegments();
            return closed.get(closed.size() - 1);
        }

        Path openSegment() throws IOException {
            try (Stream<Path> files = Files.list(folder)) {
                List<Path> open = files.filter(p -> p.getFileName().toString().startsWith("log_inprogress_")).toList();
                assertEquals(1, open.size(), "one open segment: " + open);
                assertTrue(Files.size(open.get(0)) > 0);
                return open.get(0);
            }
        }
    }

    /** Three nodes, a queue of {@link #MESSAGES} acknowledged messages; a follower that holds them all, stopped. */
    private Stopped aFollowerWithSeveralSegments() throws Exception {
        ClusterHarness cluster = clusters.of(3, SMALL_SEGMENTS);
        int leader = cluster.startAll();
        Engine engine = cluster.engine(leader);
        offlineSubscriber(engine, "sub");
        publish(engine, "pub", 0, MESSAGES);
        int follower = (leader + 1) % 3;
        cluster.awaitApplied(follower, cluster.nodes.get(leader).raftStatus().lastIndex());
        cluster.stop(follower);
        Stopped s = new Stopped(cluster, leader, follower, RaftLogFiles.currentFolder(cluster.raft(follower)));
        assertTrue(s.closedSegments().size() >= 3, "several closed segments: " + s.closedSegments());
        s.openSegment();
        return s;
    }

    /**
     * The follower, started after the change, catches up; more traffic; then, all stopped: its log holds the
     * leader's entries index for index (same term, same bytes) and its store every acknowledged message.
     */
    private void assertRecoveredExactly(Stopped s) throws Exception {
        ClusterHarness cluster = s.cluster();
        int leader = cluster.awaitServing();
        publish(cluster.engine(leader), "pub", MESSAGES, MESSAGES + 10);
        cluster.awaitApplied(s.follower(), cluster.nodes.get(leader).raftStatus().lastIndex());
        cluster.close();
        Map<Long, LogEntryProto> theirs = RaftLogEntries.read(cluster.raft(leader));
        Map<Long, LogEntryProto> ours = RaftLogEntries.read(cluster.raft(s.follower()));
        assertEquals(theirs.keySet(), ours.keySet(), "the follower's log has every index of the leader's");
        for (Map.Entry<Long, LogEntryProto> e : theirs.entrySet()) {
            assertEquals(e.getValue(), ours.get(e.getKey()), "entry " + e.getKey());
        }
        try (Engine e = Engine.open(EngineService.config(cluster.data(s.follower())), new SimpleMeterRegistry())) {
            assertEquals(MESSAGES + 10, e.session("sub").queuedMessages(), "the follower's store holds every acknowledged message");
        }
    }

    static long startOf(Path segment) {
        return Long.parseLong(segment.getFileName().toString().replaceAll("log_(?:inprogress_)?(\\d+).*", "$1"));
    }

    static long lastIndexOf(Path closedSegment) {
        return Long.parseLong(closedSegment.getFileName().toString().replaceAll("log_\\d+-(\\d+)", "$1"));
    }
}
