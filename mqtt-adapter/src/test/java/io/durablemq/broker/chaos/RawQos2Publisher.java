package io.durablemq.broker.chaos;

import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;

import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A QoS 2 publisher driven step by step by the harness thread, to kill the broker at chosen points
 * of the handshake: after its PUBREC and before the PUBREL, or right after the PUBLISH. Its sender
 * state (which packet ids await PUBREC or PUBCOMP) lives here, and on every reconnect it finishes
 * those exchanges as MQTT 3.1.1 section 4.4 asks: PUBLISH again with DUP for those without PUBREC,
 * PUBREL for those with one (sometimes after a DUP PUBLISH too, which the broker must recognise as
 * already received and not route again).
 */
final class RawQos2Publisher {
    private enum Step { PUBLISH_SENT, PUBREC_RECEIVED, PUBREL_SENT }

    private record Pending(MsgId id, String topic, Step step) {
    }

    final String name;
    private final String topic;
    private final Ledger ledger;
    private final Random random;
    private final Map<Integer, Pending> pending = new LinkedHashMap<>();
    private RawConnection connection;
    private long nextSeq = 1;
    private int nextPacketId = 1;
    private int dupAfterPubrec;

    RawQos2Publisher(String name, String topic, Ledger ledger, long seed) {
        this.name = name;
        this.topic = topic;
        this.ledger = ledger;
        this.random = new Random(seed);
    }

    /** Connects (persistent session) and completes every unfinished exchange. */
    void connectAndResume(int port) throws IOException {
        close();
        connection = RawConnection.open(port, name);
        for (Iterator<Map.Entry<Integer, Pending>> it = pending.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Integer, Pending> e = it.next();
            int pid = e.getKey();
            Pending p = e.getValue();
            Step step = p.step();
            if (step == Step.PUBLISH_SENT || (step == Step.PUBREC_RECEIVED && random.nextBoolean())) {
                if (step == Step.PUBREC_RECEIVED) {
                    dupAfterPubrec++;
                }
                connection.send(RawConnection.publish(p.topic(), p.id().payload(16), 2, pid, true));
                expect(MqttMessageType.PUBREC, pid);
            }
            connection.send(RawConnection.ack(MqttMessageType.PUBREL, pid));
            e.setValue(new Pending(p.id(), p.topic(), Step.PUBREL_SENT));
            expect(MqttMessageType.PUBCOMP, pid);
            ledger.acknowledged(p.id());
            it.remove();
        }
    }

    /** One complete exchange: PUBLISH, PUBREC, PUBREL, PUBCOMP. */
    void publishComplete() throws IOException {
        int pid = publishUntilPubrec();
        connection.send(RawConnection.ack(MqttMessageType.PUBREL, pid));
        Pending p = pending.get(pid);
        pending.put(pid, new Pending(p.id(), p.topic(), Step.PUBREL_SENT));
        expect(MqttMessageType.PUBCOMP, pid);
        ledger.acknowledged(p.id());
        pending.remove(pid);
    }

    /** PUBLISH and wait for its PUBREC: the broker now owns the message; the PUBREL is not sent yet. */
    int publishUntilPubrec() throws IOException {
        int pid = publishOnly();
        expect(MqttMessageType.PUBREC, pid);
        Pending p = pending.get(pid);
        pending.put(pid, new Pending(p.id(), p.topic(), Step.PUBREC_RECEIVED));
        return pid;
    }

    /** PUBLISH without waiting for anything. */
    int publishOnly() throws IOException {
        int pid = nextPacketId;
        nextPacketId = nextPacketId == 65_535 ? 1 : nextPacketId + 1;
        MsgId id = new MsgId(name, nextSeq++);
        ledger.sent(id, topic, 2);
        pending.put(pid, new Pending(id, topic, Step.PUBLISH_SENT));
        connection.send(RawConnection.publish(topic, id.payload(16), 2, pid, false));
        return pid;
    }

    private void expect(MqttMessageType type, int pid) throws IOException {
        MqttMessage m = connection.receive(type, 30_000);
        if (m == null) {
            throw new IOException(name + ": no " + type + " for packet " + pid + " within 30 s");
        }
        if (RawConnection.packetId(m) != pid) {
            throw new IOException(name + ": " + type + " for packet " + RawConnection.packetId(m) + ", expected " + pid);
        }
    }

    int unfinished() {
        return pending.size();
    }

    /** How often a DUP PUBLISH was sent for a message whose PUBREC had already arrived (dedup probes). */
    int dupAfterPubrec() {
        return dupAfterPubrec;
    }

    void close() {
        if (connection != null) {
            connection.close();
            connection.release();
            connection = null;
        }
    }
}
