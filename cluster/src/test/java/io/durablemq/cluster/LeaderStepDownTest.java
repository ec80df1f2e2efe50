package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static io.durablemq.cluster.ClusterHarness.await;
import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The step-down behind the paused-leader hang (docs/CLUSTER.md, "Stability record"): a serving
 * leader whose batch log has an entry in flight loses its majority. It must step down by itself
 * (Ratis's leadership check fails the entry; the fenced batch log lets the role loop close the
 * engine and reopen the follower store), acknowledge nothing, and afterwards its Raft server must
 * still take the next leader's entries. On Ratis 3.2.0 this step-down ran under the Raft server's
 * lock and waited for log appenders that wait for the same lock (RATIS-2345): the node then
 * answered nothing, for good.
 */
@Timeout(180)
class LeaderStepDownTest {
    @RegisterExtension
    final Clusters clusters = new Clusters();

    @Test
    void aLeaderWithACommitInFlightStepsDownWhenItLosesItsMajorityAndFollowsTheNextLeader() throws Exception {
        ClusterHarness cluster = clusters.of(3, ClusterHarness.Options.DEFAULT.withElectionTimeout(Duration.ofMillis(500)));
        int leader = cluster.startAll();
        Engine engine = cluster.engine(leader);
        offlineSubscriber(engine, "sub");
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        await(pub.publish(1, Message.of("t/x", new byte[] {1}, 1)));

        // Both followers go away: the leader's next commit is appended to its own log and waits for a majority.
        List<Integer> followers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            if (i != leader) {
                followers.add(i);
                cluster.stop(i);
            }
        }
        CompletableFuture<?> inFlight = pub.publish(2, Message.of("t/x", new byte[] {2}, 1));

        // Ratis's leadership check steps it down; the role loop must get through the whole step-down.
        ClusterNode old = cluster.nodes.get(leader);
        assertTrue(ClusterHarness.await(() -> old.role() == NodeRole.FOLLOWING, 60_000),
                "the leader that lost its majority did not step down (role " + old.role() + ", raft " + old.raftStatus() + ")");
        assertFalse(inFlight.isDone() && !inFlight.isCompletedExceptionally(),
                "the publish in flight was acknowledged without a majority");

        // The followers come back (their settings as before) and elect a leader; the old leader's Raft server must take its entries.
        for (int i : followers) {
            cluster.start(i);
        }
        int next = cluster.awaitServing();
        Engine nextEngine = cluster.engine(next);
        SessionHandle pub2 = await(nextEngine.connect(new ConnectRequest("pub2", true, 0, 65_535), new RecordingListener()));
        await(pub2.publish(1, Message.of("t/x", new byte[] {3}, 1)));
        long applied = cluster.nodes.get(next).raftStatus().appliedIndex();
        for (int i = 0; i < 3; i++) {
            ClusterNode n = cluster.nodes.get(i);
            if (i != next) {
                assertTrue(ClusterHarness.await(() -> n.role() == NodeRole.FOLLOWING && n.raftStatus().appliedIndex() >= applied, 60_000),
                        "n" + (i + 1) + " did not apply the new leader's entries (leader applied " + applied + ", n"
                                + (i + 1) + " " + n.raftStatus() + ", role " + n.role() + ")");
            }
        }
        long queued = nextEngine.session("sub").queuedMessages();
        assertTrue(queued >= 2, "the message acknowledged before the step-down and the one after it are queued: " + queued);
    }
}
