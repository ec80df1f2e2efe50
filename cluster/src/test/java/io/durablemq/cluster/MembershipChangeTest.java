package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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

import static io.durablemq.cluster.ThreeNodeReplicationTest.freePort;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A running three-node group gains a fourth member through Ratis's configuration change (the
 * newcomer, started empty, receives the whole log and its store holds what was acknowledged
 * before it joined), then loses it again; commits go on throughout.
 */
@Timeout(180)
class MembershipChangeTest {
    @TempDir
    Path tmp;
    private final List<ClusterNode> nodes = new ArrayList<>();
    private final List<EngineService> services = new ArrayList<>();

    @AfterEach
    void closeAll() {
        nodes.forEach(ClusterNode::close);
    }

    @Test
    void aFourthNodeJoinsCatchesUpAndLeaves() throws Exception {
        List<Peer> three = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            three.add(new Peer("n" + i, "127.0.0.1", freePort(), null));
        }
        Peer fourth = new Peer("n4", "127.0.0.1", freePort(), null);
        List<Peer> four = new ArrayList<>(three);
        four.add(fourth);
        for (int i = 1; i <= 3; i++) {
            start("n" + i, three, i);
        }
        int leader = awaitServing();
        Engine engine = services.get(leader).engine();
        SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 65_535), new RecordingListener()));
        await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
        await(sub.disconnect(-1));
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", false, 3600, 65_535), new RecordingListener()));
        for (int i = 0; i < 20; i++) {
            await(pub.publish(i + 1, Message.of("t/x", new byte[] {(byte) i}, 1)));
        }

        start("n4", four, 4);
        assertThrows(IllegalArgumentException.class, () -> Membership.add(four, fourth), "already a member");
        Membership.add(three, fourth);
        assertTrue(awaitTrue(() -> nodes.get(leader).members().equals(List.of("n1", "n2", "n3", "n4")), 60_000),
                "the leader's configuration has four members: " + nodes.get(leader).members());
        for (int i = 20; i < 40; i++) {
            await(pub.publish(i + 1, Message.of("t/x", new byte[] {(byte) i}, 1)));
        }
        long applied = nodes.get(leader).raftStatus().appliedIndex();
        assertTrue(awaitTrue(() -> nodes.get(3).raftStatus().appliedIndex() >= applied, 60_000), "the newcomer caught up");

        Membership.remove(four, "n4");
        assertTrue(awaitTrue(() -> nodes.get(leader).members().equals(List.of("n1", "n2", "n3")), 60_000),
                "n4 removed: " + nodes.get(leader).members());
        await(pub.publish(41, Message.of("t/x", new byte[] {41}, 1))); // three members still commit

        nodes.get(3).close();
        try (Engine e = Engine.open(EngineService.config(tmp.resolve("data4")), new SimpleMeterRegistry())) {
            assertEquals(40, e.session("sub").queuedMessages(), "the newcomer's store holds what was acknowledged before and after it joined");
        }
    }

    private void start(String id, List<Peer> peers, int n) throws Exception {
        ClusterSettings settings = new ClusterSettings(id, peers, tmp.resolve("raft" + n), Durability.OS, Duration.ofMillis(1000));
        EngineService service = new EngineService(tmp.resolve("data" + n));
        services.add(service);
        nodes.add(ClusterNode.start(settings, tmp.resolve("data" + n), service));
    }

    private int awaitServing() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < nodes.size(); i++) {
                if (nodes.get(i).role() == NodeRole.SERVING) {
                    return i;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no node serves within 60 s");
    }

    private static boolean awaitTrue(BooleanSupplier condition, long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(50);
        }
        return condition.getAsBoolean();
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(20, TimeUnit.SECONDS);
    }
}
