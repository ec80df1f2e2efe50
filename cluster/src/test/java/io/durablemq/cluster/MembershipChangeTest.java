package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.support.RecordingListener;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static io.durablemq.cluster.ClusterHarness.await;
import static io.durablemq.cluster.EngineClients.offlineSubscriber;
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
    @RegisterExtension
    final Clusters clusters = new Clusters();

    @Test
    void aFourthNodeJoinsCatchesUpAndLeaves() throws Exception {
        ClusterHarness cluster = clusters.of(3);
        int leader = cluster.startAll();
        List<Peer> three = List.copyOf(cluster.peers);
        Engine engine = cluster.engine(leader);
        offlineSubscriber(engine, "sub");
        SessionHandle pub = await(engine.connect(new ConnectRequest("pub", false, 3600, 65_535), new RecordingListener()));
        for (int i = 0; i < 20; i++) {
            await(pub.publish(i + 1, Message.of("t/x", new byte[] {(byte) i}, 1)));
        }

        int newcomer = cluster.addNode(); // n4, started with all four peers; the group still has three
        List<Peer> four = List.copyOf(cluster.peers);
        Peer fourth = four.get(newcomer);
        cluster.start(newcomer);
        assertThrows(IllegalArgumentException.class, () -> Membership.add(four, fourth), "already a member");
        Membership.add(three, fourth);
        ClusterNode lead = cluster.nodes.get(leader);
        assertTrue(ClusterHarness.await(() -> lead.members().equals(List.of("n1", "n2", "n3", "n4")), 60_000),
                "the leader's configuration has four members: " + lead.members());
        for (int i = 20; i < 40; i++) {
            await(pub.publish(i + 1, Message.of("t/x", new byte[] {(byte) i}, 1)));
        }
        cluster.awaitApplied(newcomer, lead.raftStatus().appliedIndex()); // the newcomer caught up

        Membership.remove(four, "n4");
        assertTrue(ClusterHarness.await(() -> lead.members().equals(List.of("n1", "n2", "n3")), 60_000),
                "n4 removed: " + lead.members());
        await(pub.publish(41, Message.of("t/x", new byte[] {41}, 1))); // three members still commit

        cluster.stop(newcomer);
        try (Engine e = Engine.open(EngineService.config(cluster.data(newcomer)), new SimpleMeterRegistry())) {
            assertEquals(40, e.session("sub").queuedMessages(), "the newcomer's store holds what was acknowledged before and after it joined");
        }
    }
}
