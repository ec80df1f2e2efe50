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

import java.util.Arrays;
import java.util.Map;

import static io.durablemq.cluster.ClusterHarness.await;
import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A purge after a snapshot keeps the log's last n entries ({@link SnapshotPolicy#preservedEntries()},
 * {@code cluster_log_preserved_entries}): a follower that was down while the leader snapshotted and purged
 * catches up by the leader's log, not by an install of its snapshot, and the leader's log still shrinks.
 * Three real Ratis servers on loopback, real RocksDB stores. Without the preservation (0) the leader purges
 * past the follower and it installs the leader's snapshot (mutation-checked).
 */
@Timeout(240)
class LogPreservationTest {
    /** Small, so that a test runs past it quickly. */
    private static final int PRESERVED = 100;
    /** The leader's snapshot while the follower is down is this far past the follower's last entry. */
    private static final int SNAPSHOT_PAST = 40;
    /** At most this many entries are logged while the follower is down: fewer than {@link #PRESERVED}. */
    private static final int WHILE_DOWN_MAX = 90;
    /**
     * Ratis's entry trigger out of reach; a snapshot per 16 KB of applied batches, so 1 KB bodies bring one every
     * 15 entries or so; 4 KB segments of about 3 such entries each, so a purge moves the log's start finely.
     */
    private static final ClusterHarness.Options OPTIONS = ClusterHarness.Options.DEFAULT
            .withSnapshots(new SnapshotPolicy(1_000_000, 2, 4 * 1024, 16 * 1024, PRESERVED));
    private static final byte[] BODY = new byte[1024];

    @RegisterExtension
    final Clusters clusters = new Clusters();

    @Test
    void aFollowerDownWhileTheLeaderSnapshotsAndPurgesCatchesUpByTheLog() throws Exception {
        Arrays.fill(BODY, (byte) 'p');
        ClusterHarness cluster = clusters.of(3, OPTIONS);
        cluster.startAll();
        int leader = cluster.awaitServing();
        Engine engine = cluster.engine(leader);
        ClusterNode lead = cluster.nodes.get(leader);
        offlineSubscriber(engine, "sub");
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        int published = publish(pub, 0, 250);

        // The leader still purges: more than n entries follow its snapshots, so its log starts above 0.
        assertTrue(ClusterHarness.await(() -> lead.snapshots().taken() >= 2 && lead.raftLogStartIndex() > 0, 30_000),
                "the leader snapshotted and purged: " + lead.snapshots() + ", log starts at " + lead.raftLogStartIndex());

        int follower = (leader + 1) % 3;
        cluster.awaitApplied(follower, lead.raftStatus().lastIndex());
        long followerLast = cluster.nodes.get(follower).raftStatus().lastIndex();
        cluster.stop(follower);
        long leaderStartBefore = lead.raftLogStartIndex();

        // While it is down the leader logs 1 KB entries until it has snapshotted by bytes well past the follower,
        // each snapshot purging. Without the preservation the purge reaches the snapshot, past the follower's next
        // entry; with it, it stops PRESERVED entries before the leader's last, and fewer than that are logged here.
        while (lead.snapshots().lastIndex() < followerLast + SNAPSHOT_PAST) {
            assertTrue(lead.raftStatus().lastIndex() < followerLast + WHILE_DOWN_MAX, "the leader snapshotted past "
                    + (followerLast + SNAPSHOT_PAST) + " within " + WHILE_DOWN_MAX + " entries: " + lead.snapshots());
            published = publish(pub, published, published + 1);
        }
        assertTrue(ClusterHarness.await(() -> lead.raftLogStartIndex() > leaderStartBefore, 30_000),
                "the leader purged while the follower was down: its log starts at " + lead.raftLogStartIndex()
                        + " (was " + leaderStartBefore + "), " + lead.snapshots());
        long leaderStartWhileDown = lead.raftLogStartIndex();
        long leaderLastWhileDown = lead.raftStatus().lastIndex();

        ClusterNode restarted = cluster.start(follower);
        assertTrue(ClusterHarness.await(() -> restarted.raftStatus().appliedIndex() >= leaderLastWhileDown, 60_000),
                "the restarted follower caught up: " + restarted.raftStatus());
        assertEquals(0, restarted.snapshots().installed(), "it caught up by the leader's log, not its snapshot: "
                + restarted.snapshots() + "; the leader's log started at " + leaderStartWhileDown + ", the follower had " + followerLast);
        assertTrue(leaderStartWhileDown <= followerLast + 1, "the leader kept the entries after " + followerLast
                + " though it snapshotted at " + lead.snapshots().lastIndex() + ": its log started at " + leaderStartWhileDown);
        assertTrue(leaderLastWhileDown - leaderStartWhileDown + 1 >= PRESERVED, "it kept at least its last " + PRESERVED
                + " entries: " + leaderStartWhileDown + ".." + leaderLastWhileDown);

        published = publish(pub, published, published + 5); // and it applies what follows
        await(pub.disconnect(-1));
        long last = lead.raftStatus().lastIndex();
        assertTrue(ClusterHarness.await(() -> restarted.raftStatus().appliedIndex() >= last, 30_000),
                "the restarted follower applies what follows: " + restarted.raftStatus());

        cluster.stop(follower);
        cluster.close();
        Map<StoreColumn, String> leaderStore = ClusterHarness.scan(cluster.data(leader));
        assertEquals(leaderStore, ClusterHarness.scan(cluster.data(follower)), "the follower's store equals the leader's");
        try (Engine e = Engine.open(EngineService.config(cluster.data(follower)), new SimpleMeterRegistry())) {
            assertEquals(published, e.session("sub").queuedMessages(), "nothing lost across the purges and the restart");
        }
    }

    /** Publishes messages {@code from} to {@code to} (exclusive) with 1 KB bodies on {@code t/x}, each acknowledged; returns {@code to}. */
    private static int publish(SessionHandle pub, int from, int to) throws Exception {
        for (int i = from; i < to; i++) {
            await(pub.publish(i % 65_000 + 1, Message.of("t/x", BODY, 1)));
        }
        return to;
    }
}
