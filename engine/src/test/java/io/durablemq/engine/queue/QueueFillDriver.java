package io.durablemq.engine.queue;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The child process of {@link QueueCrashTest}: three offline sessions whose queues grow far past
 * their in-memory heads, one online session that drains with a window of 2, and two publishers
 * publishing QoS 1 as fast as the engine acknowledges. Each acknowledged publish is logged (and
 * flushed) before the next, so the parent knows what was acknowledged when it SIGKILLs this.
 * Arguments: data dir, durability (os|fsync), first message number, ack log file.
 */
public final class QueueFillDriver {
    static final String[] OFFLINE = {"off-1", "off-2", "off-3"};

    public static void main(String[] args) throws Exception {
        Path data = Path.of(args[0]);
        Durability durability = Durability.valueOf(args[1].toUpperCase());
        long first = Long.parseLong(args[2]);
        PrintStream ackLog = new PrintStream(new FileOutputStream(args[3], true), false, StandardCharsets.UTF_8);
        Engine engine = Engine.open(EngineConfig.defaults(data).withDurability(durability), new SimpleMeterRegistry());
        for (String id : OFFLINE) {
            SessionHandle h = engine.connect(new ConnectRequest(id, false, ConnectRequest.NEVER_EXPIRES, 8), noop())
                    .get(30, TimeUnit.SECONDS);
            h.subscribe(List.of(Subscription.of("f/#", 1))).get(30, TimeUnit.SECONDS);
            h.disconnect(-1).get(30, TimeUnit.SECONDS);
        }
        Drainer drainer = new Drainer();
        drainer.handle = engine.connect(new ConnectRequest("drainer", false, ConnectRequest.NEVER_EXPIRES, 2), drainer)
                .get(30, TimeUnit.SECONDS);
        drainer.handle.subscribe(List.of(Subscription.of("f/#", 1))).get(30, TimeUnit.SECONDS);
        drainer.handle.startDelivery();
        System.out.println("READY");
        System.out.flush();
        Thread[] pubs = new Thread[2];
        for (int p = 0; p < pubs.length; p++) {
            int publisher = p;
            SessionHandle h = engine.connect(new ConnectRequest("pub-" + p, true, 0, 65_535), noop()).get(30, TimeUnit.SECONDS);
            pubs[p] = new Thread(() -> {
                try {
                    for (long n = first + publisher; ; n += pubs.length) {
                        PublishResult r = h.publish((int) (n % 65_535) + 1, Message.of("f/" + publisher,
                                ("m" + n).getBytes(StandardCharsets.UTF_8), 1)).get(30, TimeUnit.SECONDS);
                        if (r.status() == PublishResult.Status.ACCEPTED) {
                            synchronized (ackLog) {
                                ackLog.println("ACK " + n);
                                ackLog.flush();
                            }
                        }
                    }
                } catch (Exception e) {
                    e.printStackTrace();
                }
            });
            pubs[p].start();
        }
        for (Thread t : pubs) {
            t.join();
        }
    }

    private static SessionListener noop() {
        return new SessionListener() {
            @Override
            public void onPublish(OutboundPublish publish) {
            }

            @Override
            public void onPubrel(int packetId) {
            }

            @Override
            public void onSessionClosed(CloseReason reason) {
            }
        };
    }

    /** Acknowledges every PUBLISH at once, as a subscriber on a fast network would. */
    private static final class Drainer implements SessionListener {
        volatile SessionHandle handle;

        @Override
        public void onPublish(OutboundPublish publish) {
            handle.puback(publish.packetId());
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
