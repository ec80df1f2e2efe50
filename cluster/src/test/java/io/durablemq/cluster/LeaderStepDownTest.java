package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
    @TempDir
    Path tmp;
    private final List<ClusterNode> nodes = new ArrayList<>();
    private final List<ClusterSettings> settings = new ArrayList<>();
    private final List<EngineService> services = new ArrayList<>();

    @AfterEach
    void closeAll() {
        nodes.forEach(ClusterNode::close);
    }

    @Test
    void aLeaderWithACommitInFlightStepsDownWhenItLosesItsMajorityAndFollowsTheNextLeader() throws Exception {
        List<Peer> peers = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            peers.add(new Peer("n" + i, "127.0.0.1", ThreeNodeReplicationTest.freePort(), null));
        }
        for (int i = 0; i < 3; i++) {
            settings.add(new ClusterSettings("n" + (i + 1), peers, tmp.resolve("raft" + i), Durability.OS, Duration.ofMillis(500)));
            services.add(new EngineService(tmp.resolve("data" + i)));
            nodes.add(ClusterNode.start(settings.get(i), tmp.resolve("data" + i), services.get(i)));
        }
        int leader = awaitServing(-1);
        Engine engine = services.get(leader).engine();
        SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 65_535), new RecordingListener()));
        await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
        await(sub.disconnect(-1));
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
        await(pub.publish(1, Message.of("t/x", new byte[] {1}, 1)));

        // Both followers go away: the leader's next commit is appended to its own log and waits for a majority.
        List<Integer> followers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            if (i != leader) {
                followers.add(i);
                nodes.get(i).close();
            }
        }
        CompletableFuture<?> inFlight = pub.publish(2, Message.of("t/x", new byte[] {2}, 1));

        // Ratis's leadership check steps it down; the role loop must get through the whole step-down.
        ClusterNode old = nodes.get(leader);
        assertTrue(await(() -> old.role() == NodeRole.FOLLOWING, 60_000),
                "the leader that lost its majority did not step down (role " + old.role() + ", raft " + old.raftStatus() + ")");
        assertFalse(inFlight.isDone() && !inFlight.isCompletedExceptionally(),
                "the publish in flight was acknowledged without a majority");

        // The followers come back and elect a leader; the old leader's Raft server must take its entries.
        for (int i : followers) {
            services.set(i, new EngineService(tmp.resolve("data" + i)));
            nodes.set(i, ClusterNode.start(settings.get(i), tmp.resolve("data" + i), services.get(i)));
        }
        int next = awaitServing(-1);
        Engine nextEngine = services.get(next).engine();
        SessionHandle pub2 = await(nextEngine.connect(new ConnectRequest("pub2", true, 0, 65_535), new RecordingListener()));
        await(pub2.publish(1, Message.of("t/x", new byte[] {3}, 1)));
        long applied = nodes.get(next).raftStatus().appliedIndex();
        for (int i = 0; i < 3; i++) {
            ClusterNode n = nodes.get(i);
            if (i != next) {
                assertTrue(await(() -> n.role() == NodeRole.FOLLOWING && n.raftStatus().appliedIndex() >= applied, 60_000),
                        "n" + (i + 1) + " did not apply the new leader's entries (leader applied " + applied + ", n"
                                + (i + 1) + " " + n.raftStatus() + ", role " + n.role() + ")");
            }
        }
        long queued = nextEngine.session("sub").queuedMessages();
        assertTrue(queued >= 2, "the message acknowledged before the step-down and the one after it are queued: " + queued);
    }

    /** Waits (bounded) until a node other than {@code not} serves; returns its index. */
    private int awaitServing(int not) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < nodes.size(); i++) {
                if (i != not && nodes.get(i).role() == NodeRole.SERVING) {
                    return i;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no node serves within 60 s");
    }

    private static boolean await(BooleanSupplier condition, long millis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(20);
        }
        return condition.getAsBoolean();
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(20, TimeUnit.SECONDS);
    }
}
