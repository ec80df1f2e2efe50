package io.durablemq.broker.chaos;

import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttSubAckMessage;

import java.io.IOException;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A QoS 2 subscriber whose acknowledgements the harness controls: with {@link #hold(boolean)} on it
 * stops answering (PUBACK / PUBREC / PUBCOMP), so the broker is killed with outbound PUBLISHes or
 * PUBRELs unanswered. Its receiver state (packet ids received and not yet released, MQTT 3.1.1
 * section 4.3.3 "method B") lives in this never-killed process, so a resent PUBLISH with such an
 * id is acknowledged without being delivered again, as a correct client does.
 */
final class RawQos2Subscriber {
    final String name;
    final String filter;
    private final Ledger ledger;
    private final Set<Integer> awaitingPubrel = new HashSet<>(); // touched by the reader thread only
    private final AtomicInteger held = new AtomicInteger();
    private volatile boolean hold;
    private volatile RawConnection connection;
    private volatile Thread reader;
    private boolean subscribed;

    RawQos2Subscriber(String name, String filter, Ledger ledger) {
        this.name = name;
        this.filter = filter;
        this.ledger = ledger;
        ledger.addSession(name, filter, 2, null);
    }

    void hold(boolean on) {
        hold = on;
    }

    /** Acknowledgements withheld on the current connection. */
    int held() {
        return held.get();
    }

    void connect(int port) throws IOException, InterruptedException {
        disconnect();
        RawConnection c = RawConnection.open(port, name);
        if (!subscribed) {
            c.send(MqttMessageBuilders.subscribe().messageId(1).addSubscription(MqttQoS.EXACTLY_ONCE, filter).build());
            MqttMessage m = c.receive(MqttMessageType.SUBACK, 15_000);
            if (!(m instanceof MqttSubAckMessage ack) || ack.payload().grantedQoSLevels().get(0) != 2) {
                throw new IOException(name + ": SUBACK granting QoS 2 expected, got " + m);
            }
            subscribed = true;
        }
        held.set(0);
        connection = c;
        Thread t = new Thread(() -> readLoop(c), name + "-reader");
        t.setDaemon(true);
        reader = t;
        t.start();
    }

    private void readLoop(RawConnection c) {
        try {
            while (!c.isClosed()) {
                MqttMessage m = c.receive(1_000);
                if (m == null) {
                    continue;
                }
                switch (m.fixedHeader().messageType()) {
                    case PUBLISH -> onPublish(c, (MqttPublishMessage) m);
                    case PUBREL -> {
                        awaitingPubrel.remove(RawConnection.packetId(m));
                        answer(c, MqttMessageType.PUBCOMP, RawConnection.packetId(m));
                    }
                    default -> ledger.anomaly(name + " got unexpected " + m.fixedHeader().messageType());
                }
            }
        } catch (IOException gone) {
            // the broker died or the harness closed the socket; state is kept for the next connection
        } finally {
            c.close();
            c.release();
        }
    }

    private void onPublish(RawConnection c, MqttPublishMessage p) throws IOException {
        int qos = p.fixedHeader().qosLevel().value();
        int id = p.variableHeader().packetId();
        byte[] payload = new byte[p.payload().readableBytes()];
        p.payload().readBytes(payload);
        String topic = p.variableHeader().topicName();
        p.release();
        if (qos == 2) {
            if (awaitingPubrel.add(id)) {
                ledger.delivered(name, topic, payload, 2);
            }
            answer(c, MqttMessageType.PUBREC, id);
        } else {
            ledger.delivered(name, topic, payload, qos);
            if (qos == 1) {
                answer(c, MqttMessageType.PUBACK, id);
            }
        }
    }

    private void answer(RawConnection c, MqttMessageType type, int packetId) throws IOException {
        if (hold) {
            held.incrementAndGet();
            return;
        }
        c.send(RawConnection.ack(type, packetId));
    }

    boolean isConnected() {
        RawConnection c = connection;
        return c != null && !c.isClosed();
    }

    /** Drops the connection (socket close, no DISCONNECT): withheld acknowledgements are forgotten. */
    void disconnect() throws InterruptedException {
        RawConnection c = connection;
        if (c != null) {
            c.close();
        }
        Thread t = reader;
        if (t != null) {
            t.join(10_000);
        }
        connection = null;
        reader = null;
    }
}
