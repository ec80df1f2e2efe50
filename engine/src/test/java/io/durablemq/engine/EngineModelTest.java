package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.durablemq.engine.topic.TopicFilter;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Thousands of random operations (connect, clean start, subscribe, unsubscribe, publish at
 * each QoS, QoS 2 resends, acknowledgements withheld or given, disconnect, store restart)
 * against the engine and against a small reference model of the MQTT rules. The test acts
 * as a correct MQTT client (it keeps QoS 2 receive state across reconnects) and checks every
 * delivery as it happens: it must be expected, at the expected QoS, never a second
 * application delivery of a QoS 2 message; at the end every expected QoS 1/2 message must
 * have arrived.
 */
class EngineModelTest {
    private static final String[] CLIENTS = {"c0", "c1", "c2", "c3"};
    private static final String[] TOPICS = {"a", "a/b", "a/c", "b", "b/x/y"};
    private static final String[] FILTERS = {"a", "a/+", "a/#", "#", "b/+/y", "b"};
    private static final long PERSISTENT = ConnectRequest.NEVER_EXPIRES;

    @TempDir
    Path dir;

    /** What the reference model knows of one session. */
    private static final class ModelSession {
        final Map<String, Integer> subscriptions = new HashMap<>();
        /** message id -> QoS it must arrive with (QoS 1/2 only; QoS 0 is never required). */
        final Map<Integer, Integer> expected = new HashMap<>();
        boolean persistent;
    }

    /** The test's client side of one session: survives reconnects like a real client's store. */
    private static final class ClientSide {
        final Set<Integer> qos2ReceivedIds = new HashSet<>(); // packet ids awaiting PUBREL
        final Set<Integer> delivered = new HashSet<>();       // message ids handed to the application
        final Set<Integer> qos0Allowed = new HashSet<>();
        final List<OutboundPublish> unacked = new ArrayList<>();
        final Set<Integer> awaitingPubcomp = new HashSet<>();
        SessionHandle handle;
        RecordingListener listener;
        int nextPacketId = 1;
        final Set<Integer> unreleased = new HashSet<>();     // our own QoS 2 publishes awaiting PUBREL
        final Map<Integer, Integer> unreleasedMessage = new HashMap<>();
    }

    private final Map<String, ModelSession> model = new HashMap<>();
    private final Map<String, ClientSide> clients = new HashMap<>();
    private final Map<Integer, String> messageTopic = new HashMap<>();
    private EngineFixture fx;
    private Random rnd;
    private int nextMessage = 1;

    /** One partition (the engine's one lock) and four (each session on its partition's lock, publishes across them). */
    @ParameterizedTest(name = "seed {0}, {1} partitions")
    @CsvSource({"1001, 1", "1002, 1", "1003, 1", "1001, 4", "1002, 4", "1003, 4"})
    void engineAgreesWithTheModel(long seed, int partitions) {
        rnd = new Random(seed);
        fx = new EngineFixture(dir, c -> c.withMaxInflight(4).withPartitions(partitions));
        for (String c : CLIENTS) {
            clients.put(c, new ClientSide());
        }
        try {
            for (int step = 0; step < 2500; step++) {
                randomStep();
                barrier();
                processEvents();
            }
            drainEverything();
        } catch (AssertionError e) {
            throw new AssertionError("seed " + seed + ", " + partitions + " partitions: " + e.getMessage(), e);
        } finally {
            fx.close();
        }
    }

    private void randomStep() {
        String c = CLIENTS[rnd.nextInt(CLIENTS.length)];
        ClientSide cs = clients.get(c);
        int op = rnd.nextInt(100);
        if (cs.handle == null) {
            if (op < 85) {
                connect(c, rnd.nextInt(6) == 0, rnd.nextInt(4) != 0);
            } else if (op < 90) {
                restart();
            }
            return;
        }
        if (op < 8) {
            disconnect(c);
        } else if (op < 18) {
            subscribe(c, FILTERS[rnd.nextInt(FILTERS.length)], rnd.nextInt(3));
        } else if (op < 22) {
            unsubscribe(c, FILTERS[rnd.nextInt(FILTERS.length)]);
        } else if (op < 70) {
            publish(c, TOPICS[rnd.nextInt(TOPICS.length)], rnd.nextInt(3));
        } else if (op < 75) {
            resendUnreleased(c);
        } else if (op < 80) {
            release(c);
        } else if (op < 97) {
            ackSome(c);
        } else if (op < 98) {
            connect(c, false, model.containsKey(c) && model.get(c).persistent); // takeover
        } else {
            restart();
        }
    }

    private void connect(String c, boolean cleanStart, boolean persistent) {
        ClientSide cs = clients.get(c);
        ModelSession ms = model.get(c);
        boolean resumes = ms != null && !cleanStart;
        if (!resumes) {
            ms = new ModelSession();
            model.put(c, ms);
            cs.qos2ReceivedIds.clear();
            cs.unreleased.clear();
            cs.unreleasedMessage.clear();
            cs.awaitingPubcomp.clear();
        }
        ms.persistent = persistent;
        RecordingListener l = new RecordingListener();
        SessionHandle h = await(fx.engine().connect(
                new ConnectRequest(c, cleanStart, persistent ? PERSISTENT : 0, 65_535), l));
        assertEquals(resumes, h.sessionPresent(), "session present for " + c);
        cs.handle = h;
        cs.listener = l;
        cs.unacked.clear();
        h.startDelivery();
    }

    private void disconnect(String c) {
        ClientSide cs = clients.get(c);
        await(cs.handle.disconnect(-1));
        processEvents(c);
        cs.handle = null;
        cs.unacked.clear();
        if (!model.get(c).persistent) {
            model.remove(c);
            cs.qos2ReceivedIds.clear();
        }
    }

    private void restart() {
        for (String c : CLIENTS) {
            if (clients.get(c).handle != null) {
                processEvents(c);
            }
        }
        fx.restart();
        for (String c : CLIENTS) {
            ClientSide cs = clients.get(c);
            cs.handle = null;
            cs.unacked.clear();
            ModelSession ms = model.get(c);
            if (ms != null && !ms.persistent) {
                model.remove(c);
                cs.qos2ReceivedIds.clear();
            }
        }
    }

    private void subscribe(String c, String filter, int qos) {
        await(clients.get(c).handle.subscribe(List.of(Subscription.of(filter, qos))));
        model.get(c).subscriptions.put(filter, qos);
    }

    private void unsubscribe(String c, String filter) {
        List<Boolean> r = await(clients.get(c).handle.unsubscribe(List.of(filter)));
        assertEquals(model.get(c).subscriptions.remove(filter) != null, r.get(0), "unsubscribe result");
    }

    private void publish(String c, String topic, int qos) {
        ClientSide cs = clients.get(c);
        int id = nextMessage++;
        messageTopic.put(id, topic);
        int packetId = qos == 0 ? 0 : nextPacketId(cs);
        // The model routes at publish time: every session whose subscriptions match now.
        for (Map.Entry<String, ModelSession> e : model.entrySet()) {
            int max = -1;
            for (Map.Entry<String, Integer> s : e.getValue().subscriptions.entrySet()) {
                if (TopicFilter.matches(s.getKey(), topic)) {
                    max = Math.max(max, s.getValue());
                }
            }
            if (max < 0) {
                continue;
            }
            int delivered = Math.min(qos, max);
            if (delivered > 0) {
                e.getValue().expected.put(id, delivered);
            } else {
                clients.get(e.getKey()).qos0Allowed.add(id);
            }
        }
        Message m = Message.of(topic, Integer.toString(id).getBytes(StandardCharsets.UTF_8), qos);
        await(cs.handle.publish(packetId, m));
        if (qos == 2) {
            cs.unreleased.add(packetId);
            cs.unreleasedMessage.put(packetId, id);
        }
    }

    private int nextPacketId(ClientSide cs) {
        int id;
        do {
            id = cs.nextPacketId;
            cs.nextPacketId = cs.nextPacketId == 65_535 ? 1 : cs.nextPacketId + 1;
        } while (cs.unreleased.contains(id));
        return id;
    }

    /** A QoS 2 resend (as after a lost PUBREC): must not be routed again. */
    private void resendUnreleased(String c) {
        ClientSide cs = clients.get(c);
        if (cs.unreleased.isEmpty()) {
            return;
        }
        int packetId = cs.unreleased.iterator().next();
        int id = cs.unreleasedMessage.get(packetId);
        Message m = Message.of(messageTopic.get(id), Integer.toString(id).getBytes(StandardCharsets.UTF_8), 2);
        var r = await(cs.handle.publish(packetId, m));
        assertEquals(io.durablemq.engine.delivery.PublishResult.Status.DUPLICATE, r.status(), "QoS 2 resend");
    }

    private void release(String c) {
        ClientSide cs = clients.get(c);
        if (cs.unreleased.isEmpty()) {
            return;
        }
        int packetId = cs.unreleased.iterator().next();
        await(cs.handle.release(packetId));
        cs.unreleased.remove(packetId);
        cs.unreleasedMessage.remove(packetId);
    }

    /** Acknowledge some of what arrived; leaving the rest in flight exercises resends. */
    private void ackSome(String c) {
        ClientSide cs = clients.get(c);
        List<OutboundPublish> toAck = new ArrayList<>();
        for (OutboundPublish p : cs.unacked) {
            if (rnd.nextInt(3) != 0) {
                toAck.add(p);
            }
        }
        for (OutboundPublish p : toAck) {
            cs.unacked.remove(p);
            if (p.qos() == 1) {
                await(cs.handle.puback(p.packetId()));
            } else {
                await(cs.handle.pubrec(p.packetId()));
            }
        }
    }

    private void barrier() {
        await(fx.engine().publish("model-test", Message.of("$barrier", new byte[0], 1)));
    }

    private void processEvents() {
        for (String c : CLIENTS) {
            if (clients.get(c).handle != null) {
                processEvents(c);
            }
        }
    }

    /** Plays a correct client: checks each delivery against the model and answers PUBRELs. */
    private void processEvents(String c) {
        ClientSide cs = clients.get(c);
        ModelSession ms = model.get(c);
        for (RecordingListener.Event e : cs.listener.drain()) {
            if (e.closed() != null) {
                continue;
            }
            if (e.isPubrel()) {
                cs.qos2ReceivedIds.remove(e.pubrel());
                if (cs.handle != null) {
                    await(cs.handle.pubcomp(e.pubrel()));
                }
                continue;
            }
            OutboundPublish p = e.publish();
            int id = Integer.parseInt(new String(p.message().payload(), StandardCharsets.UTF_8));
            if (p.qos() == 0) {
                assertTrue(cs.qos0Allowed.contains(id) || (ms != null && ms.expected.containsKey(id)),
                        c + " got unexpected QoS 0 message " + id);
                continue;
            }
            if (ms == null || !ms.expected.containsKey(id)) {
                fail(c + " got message " + id + " it was never routed to (dup=" + p.dup() + ")");
            }
            assertEquals(ms.expected.get(id), p.qos(), c + " QoS of message " + id);
            if (p.qos() == 2) {
                if (cs.qos2ReceivedIds.add(p.packetId())) {
                    assertTrue(cs.delivered.add(id), c + " got QoS 2 message " + id + " twice");
                } else {
                    assertTrue(p.dup(), "a repeated QoS 2 packet id must carry DUP");
                }
            } else {
                if (!cs.delivered.add(id)) {
                    assertTrue(p.dup(), c + " got QoS 1 message " + id + " again without DUP");
                }
            }
            if (cs.handle != null) {
                cs.unacked.add(p);
            }
        }
    }

    /** Connect every remaining session, acknowledge everything, and compare with the model. */
    private void drainEverything() {
        for (String c : CLIENTS) {
            ModelSession ms = model.get(c);
            if (ms == null) {
                continue;
            }
            ClientSide cs = clients.get(c);
            if (cs.handle == null) {
                connect(c, false, ms.persistent);
            }
            for (int round = 0; round < 200; round++) {
                barrier();
                processEvents(c);
                if (cs.unacked.isEmpty()) {
                    if (fx.engine().stats().queuedMessages() == 0 && fx.engine().stats().inflightMessages() == 0) {
                        break;
                    }
                }
                for (OutboundPublish p : new ArrayList<>(cs.unacked)) {
                    cs.unacked.remove(p);
                    if (p.qos() == 1) {
                        await(cs.handle.puback(p.packetId()));
                    } else {
                        await(cs.handle.pubrec(p.packetId()));
                    }
                }
            }
            for (Map.Entry<Integer, Integer> e : ms.expected.entrySet()) {
                assertTrue(cs.delivered.contains(e.getKey()),
                        c + " never received QoS " + e.getValue() + " message " + e.getKey());
            }
            await(cs.handle.disconnect(-1));
            cs.handle = null;
        }
        barrier();
        assertEquals(0, fx.engine().stats().queuedMessages());
        assertEquals(0, fx.engine().stats().inflightMessages());
        assertEquals(0, fx.engine().stats().storedBodies(), "no body left once everything is acknowledged");
    }
}
