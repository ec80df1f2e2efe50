package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the metrics of a cluster read, on three real nodes (Ratis on loopback, RocksDB): the leader's
 * view of each follower (match index, lag behind the commit index, last contact), the followers'
 * empty view, and the leader changes each node counts.
 */
@Timeout(120)
class ClusterObservabilityTest {
    @RegisterExtension
    final Clusters clusters = new Clusters();
    private ClusterHarness cluster;
    private List<ClusterNode> nodes;

    @Test
    void leaderSeesEachFollowersLagAndEveryNodeCountsLeaderChanges() throws Exception {
        cluster = clusters.of(3);
        cluster.startAll();
        nodes = cluster.nodes;
        int first = cluster.awaitServing();
        publish(cluster.services.get(first).engine(), "a", 20);

        ClusterNode leader = nodes.get(first);
        assertTrue(ClusterHarness.await(() -> lags(leader).size() == 2 && lags(leader).values().stream().allMatch(l -> l == 0), 30_000),
                () -> "both followers caught up with the commit index " + leader.raftStatus().commitIndex() + ": " + leader.followers());
        for (int i = 0; i < 3; i++) {
            if (i != first) {
                assertEquals(List.of(), nodes.get(i).followers(), "a follower reports no followers");
            }
            assertEquals(0, nodes.get(i).observedLeaderChanges(), "the first leader a node learns of is no change");
        }

        // The leader goes away: the two others see one change; the new leader sees the old one fall behind.
        String gone = "n" + (first + 1);
        cluster.stop(first);
        int second = cluster.awaitServing(); // the stopped node is no longer in the harness
        ClusterNode next = nodes.get(second);
        int other = 3 - first - second;
        assertTrue(ClusterHarness.await(() -> next.observedLeaderChanges() == 1 && nodes.get(other).observedLeaderChanges() == 1, 30_000),
                () -> "each remaining node saw one leader change: " + next.observedLeaderChanges() + ", "
                        + nodes.get(other).observedLeaderChanges());
        publish(cluster.services.get(second).engine(), "b", 20);
        String live = "n" + (other + 1);
        assertTrue(ClusterHarness.await(() -> {
                    Map<String, Long> lag = lags(next);
                    return lag.getOrDefault(gone, 0L) >= 20 && lag.get(live) != null && lag.get(live) == 0;
                }, 30_000),
                () -> "the stopped node lags by every batch since, the live one by none: " + lags(next)
                        + " (commit " + next.raftStatus().commitIndex() + ")");
        FollowerProgress stopped = next.followers().stream().filter(f -> f.id().equals(gone)).findFirst().orElseThrow();
        FollowerProgress running = next.followers().stream().filter(f -> f.id().equals(live)).findFirst().orElseThrow();
        assertTrue(stopped.lastContactMillis() > running.lastContactMillis(),
                "the stopped node answered last longer ago: " + next.followers());
    }

    private static Map<String, Long> lags(ClusterNode leader) {
        long commit = leader.raftStatus().commitIndex();
        return leader.followers().stream().collect(Collectors.toMap(FollowerProgress::id, f -> f.lag(commit)));
    }

    /**
     * {@code n} acknowledged QoS 1 publishes, one after the other, each queued for an offline persistent
     * subscriber: each is its own commit batch, so its own Raft entry.
     */
    private static void publish(Engine engine, String client, int n) throws Exception {
        SessionHandle sub = engine.connect(new ConnectRequest("sub-" + client, false, 3600, 65_535), new RecordingListener())
                .get(20, TimeUnit.SECONDS);
        sub.subscribe(List.of(Subscription.of("t/#", 1))).get(20, TimeUnit.SECONDS);
        sub.disconnect(-1).get(20, TimeUnit.SECONDS);
        SessionHandle pub = engine.connect(new ConnectRequest(client, true, 0, 65_535), new RecordingListener())
                .get(20, TimeUnit.SECONDS);
        for (int i = 0; i < n; i++) {
            pub.publish(i + 1, Message.of("t/" + client, ("m" + i).getBytes(StandardCharsets.UTF_8), 1))
                    .get(20, TimeUnit.SECONDS);
        }
        pub.disconnect(-1).get(20, TimeUnit.SECONDS);
    }
}
