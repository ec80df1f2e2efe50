package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static io.durablemq.cluster.ClusterHarness.await;

/** The clients the cluster tests put on a serving node's engine: what many of them set up before their point. */
final class EngineClients {
    private EngineClients() {
    }

    /** A persistent session subscribed to {@code t/#} at QoS 1 and gone offline: everything published is queued for it. */
    static void offlineSubscriber(Engine engine, String clientId) throws Exception {
        SessionHandle sub = await(engine.connect(new ConnectRequest(clientId, false, 3600, 65_535), new RecordingListener()));
        await(sub.subscribe(List.of(Subscription.of("t/#", 1))));
        await(sub.disconnect(-1));
    }

    /**
     * Publishes messages {@code from} (inclusive) to {@code to} (exclusive) on {@code t/x} at QoS 1, payload
     * {@code "m" + i}, each acknowledged before the next, from a clean session that disconnects afterwards.
     */
    static void publish(Engine engine, String clientId, int from, int to) throws Exception {
        SessionHandle pub = await(engine.connect(new ConnectRequest(clientId, true, 0, 65_535), new RecordingListener()));
        for (int i = from; i < to; i++) {
            await(pub.publish(i % 65_000 + 1, Message.of("t/x", ("m" + i).getBytes(StandardCharsets.UTF_8), 1)));
        }
        await(pub.disconnect(-1));
    }
}
