package io.durablemq.bench.jmh;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;

import java.util.concurrent.Executor;
import java.util.function.LongConsumer;

/**
 * A subscriber connection that acknowledges everything it is sent, as a well-behaved client
 * would: PUBACK for QoS 1, PUBREC then PUBCOMP for QoS 2. Work hops to its event loop.
 * The message sequence number is the payload's first 8 bytes.
 */
final class AckingSubscriber implements SessionListener {

    private final Executor loop;
    private final LongConsumer delivered;
    private final LongConsumer completed;
    private volatile SessionHandle handle;

    /**
     * @param delivered called with the sequence number when a PUBLISH arrives
     * @param completed called (with the packet id) when the subscriber's side of the handshake
     *                  is durable: its PUBACK, or its PUBCOMP
     */
    AckingSubscriber(Executor loop, LongConsumer delivered, LongConsumer completed) {
        this.loop = loop;
        this.delivered = delivered;
        this.completed = completed;
    }

    void attach(SessionHandle h) {
        this.handle = h;
    }

    @Override
    public void onPublish(OutboundPublish p) {
        loop.execute(() -> {
            delivered.accept(Sequences.read(p.message().payload()));
            int id = p.packetId();
            if (p.qos() == 1) {
                handle.puback(id).thenRun(() -> completed.accept(id));
            } else if (p.qos() == 2) {
                handle.pubrec(id);
            } else {
                completed.accept(id);
            }
        });
    }

    @Override
    public void onPubrel(int packetId) {
        loop.execute(() -> handle.pubcomp(packetId).thenRun(() -> completed.accept(packetId)));
    }

    @Override
    public void onSessionClosed(CloseReason reason) {
    }

    static SessionListener ignoring() {
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
}
