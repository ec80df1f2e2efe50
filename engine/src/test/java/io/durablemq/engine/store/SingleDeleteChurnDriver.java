package io.durablemq.engine.store;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.support.BodiesPutTwiceBatchLog;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The child process of {@link SingleDeleteCrashTest}: the engine's every SingleDelete path, on and
 * on, until it is killed. Two publishers (QoS 1 and QoS 2) fan out to "a" and "b" (persistent,
 * mostly offline, queues full: DROP_OLDEST evicts an entry and releases a body per message), to
 * "x" (started clean every cycle: its queue is discarded with a range delete and its sequence
 * numbers start again at 1, so its queue keys are put again) and to "online" (acknowledges at
 * once: entries put and pumped in one batch, bodies released by the acks). Every cycle "a"
 * connects, takes what it can in a moment, and leaves. Arguments: data dir, durability (os|fsync),
 * and optionally {@code put-bodies-twice} ({@link BodiesPutTwiceBatchLog}, the mutation check).
 * Prints READY, then {@code PROGRESS <cycles> <published>} once per cycle.
 */
public final class SingleDeleteChurnDriver {
    static final int QUEUE_LIMIT = 200;

    public static void main(String[] args) throws Exception {
        Path data = Path.of(args[0]);
        Durability durability = Durability.valueOf(args[1].toUpperCase());
        boolean putBodiesTwice = args.length > 2 && args[2].equals("put-bodies-twice");
        EngineConfig config = EngineConfig.defaults(data).withDurability(durability)
                .withQueueLimits(QUEUE_LIMIT, Long.MAX_VALUE, OverflowPolicy.DROP_OLDEST);
        Engine engine = Engine.open(config, new SimpleMeterRegistry(), putBodiesTwice ? new BodiesPutTwiceBatchLog() : BatchLog.LOCAL);
        for (String id : new String[]{"a", "b"}) {
            SessionHandle h = engine.connect(new ConnectRequest(id, false, ConnectRequest.NEVER_EXPIRES, 8), new Acker())
                    .get(30, TimeUnit.SECONDS);
            h.subscribe(List.of(Subscription.of("c/#", 1))).get(30, TimeUnit.SECONDS);
            h.disconnect(-1).get(30, TimeUnit.SECONDS);
        }
        Acker online = new Acker();
        online.handle = engine.connect(new ConnectRequest("online", false, ConnectRequest.NEVER_EXPIRES, 4), online)
                .get(30, TimeUnit.SECONDS);
        online.handle.subscribe(List.of(Subscription.of("c/#", 2))).get(30, TimeUnit.SECONDS);
        online.handle.startDelivery();
        System.out.println("READY");
        System.out.flush();
        AtomicLong published = new AtomicLong();
        for (int p = 0; p < 2; p++) {
            int qos = p + 1;
            SessionHandle h = engine.connect(new ConnectRequest("pub-" + qos, true, 0, 65_535), new Acker()).get(30, TimeUnit.SECONDS);
            Thread t = new Thread(() -> {
                try {
                    for (long n = 0; ; n++) {
                        int packetId = (int) (n % 65_535) + 1;
                        h.publish(packetId, Message.of("c/" + qos, ("q" + qos + "m" + n).getBytes(StandardCharsets.UTF_8), qos))
                                .get(30, TimeUnit.SECONDS);
                        if (qos == 2) {
                            h.release(packetId).get(30, TimeUnit.SECONDS);
                        }
                        published.incrementAndGet();
                    }
                } catch (Exception e) {
                    e.printStackTrace();
                }
            }, "publisher-qos" + qos);
            t.setDaemon(true);
            t.start();
        }
        for (long cycle = 1; ; cycle++) {
            // "x" starts clean: its old queue goes with a range delete, its new one starts at seq 1.
            SessionHandle x = engine.connect(new ConnectRequest("x", true, ConnectRequest.NEVER_EXPIRES, 8), new Acker())
                    .get(30, TimeUnit.SECONDS);
            x.subscribe(List.of(Subscription.of("c/#", 1))).get(30, TimeUnit.SECONDS);
            x.disconnect(-1).get(30, TimeUnit.SECONDS);
            Acker a = new Acker();
            a.handle = engine.connect(new ConnectRequest("a", false, ConnectRequest.NEVER_EXPIRES, 8), a).get(30, TimeUnit.SECONDS);
            a.handle.startDelivery();
            Thread.sleep(40);
            a.handle.disconnect(-1).get(30, TimeUnit.SECONDS);
            Thread.sleep(40);
            System.out.println("PROGRESS " + cycle + " " + published.get());
            System.out.flush();
        }
    }

    /** Acknowledges every PUBLISH (and PUBREL) at once, as a subscriber on a fast network would. */
    private static final class Acker implements SessionListener {
        volatile SessionHandle handle;

        @Override
        public void onPublish(OutboundPublish publish) {
            if (publish.qos() == 2) {
                handle.pubrec(publish.packetId());
            } else if (publish.qos() == 1) {
                handle.puback(publish.packetId());
            }
        }

        @Override
        public void onPubrel(int packetId) {
            handle.pubcomp(packetId);
        }

        @Override
        public void onSessionClosed(CloseReason reason) {
        }
    }
}
