package io.durablemq.broker.protocol;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;

import java.util.HashMap;
import java.util.Map;

import static io.durablemq.broker.protocol.ConnectionScope.LOG;

/**
 * Engine to client: the engine's deliveries become PUBLISH (and PUBREL) packets, and the
 * client's PUBACK, PUBREC and PUBCOMP go back to the engine, which keeps every in-flight
 * record until then (a message not written here is resent on the next connection).
 * Called on the event loop; {@link MqttConnection} hands the engine's callbacks over.
 */
final class OutboundDelivery {
    private final ConnectionScope scope;
    /** Topics of outbound QoS 1/2 messages awaiting the client's ack, for the interceptors' acknowledged event. */
    private final Map<Integer, String> outboundTopics = new HashMap<>();
    /** PUBACKs handed to the engine in one call at most (a longer read is handed over in parts). */
    static final int MAX_PUBACKS_PER_CALL = 256;
    /** PUBACKs received and not yet handed to the engine ({@link #receivePuback}), in the order received. */
    private final int[] pendingPubackIds = new int[MAX_PUBACKS_PER_CALL];
    private int pendingPubacks;
    /** See {@link #topicAliasesOff}. */
    private boolean aliasesOff;

    OutboundDelivery(ConnectionScope scope) {
        this.scope = scope;
    }

    /** Writes (does not flush) one PUBLISH; false when it was not written (connection ended, expired, too large). */
    boolean sendPublish(OutboundPublish publish) {
        if (scope.state() != ConnectionState.CONNECTED || !scope.channel.isActive()) {
            return false; // the in-flight record stays in the engine and is resent on the next connection
        }
        Message message = publish.message();
        long now = System.currentTimeMillis();
        if (message.isExpired(now)) {
            if (publish.qos() > 0) {
                scope.engineCall("expired", () -> scope.session.discard(publish.packetId(), "expired"));
            }
            return false;
        }
        long remaining = message.remainingExpirySeconds(now);
        boolean v5 = scope.isV5();
        if (v5 && scope.clientMaxPacketSize < Long.MAX_VALUE) {
            long size = MqttProps.publishPacketSize(message.topic(), publish.qos(), message.payload().length,
                    message.properties(), remaining, publish.subscriptionIds(), true);
            if (size > scope.clientMaxPacketSize) {
                LOG.info("message to client {} on topic {} dropped: {} bytes exceed the client's maximum packet size {}",
                        scope.clientId, message.topic(), size, scope.clientMaxPacketSize);
                if (publish.qos() > 0) {
                    scope.engineCall("discard", () -> scope.session.discard(publish.packetId(), "packet_too_large"));
                }
                return false;
            }
        }
        if (publish.qos() > 0) {
            outboundTopics.put(publish.packetId(), message.topic());
        }
        // Unflushed: called through LoopWrites, which flushes once after the tasks it ran.
        if (topicAliasesOff()) {
            // Encoded straight into the drain's shared buffer, no MqttProperties or message objects
            // (PublishEncoder, PublishCoalescer say why); sendPublish runs only as a LoopWrites.EngineDelivery.
            scope.fromEngine.publishes.add(message.topic(), publish.qos(), publish.dup(), publish.retain(),
                    publish.packetId(), message.payload(), message.properties(), remaining, publish.subscriptionIds(), v5);
            return true;
        }
        // Outbound topic aliases rewrite the MqttPublishMessage on its way to Netty's encoder.
        scope.fromEngine.publishes.writePending(); // none today (aliases are on or off for the whole connection); order first
        MqttProperties props = v5 ? MqttProps.outbound(message.properties(), remaining, publish.subscriptionIds())
                : MqttProperties.NO_PROPERTIES;
        scope.channel.write(Packets.publish(message.topic(), publish.qos(), publish.dup(), publish.retain(),
                publish.packetId(), message.payload(), props));
        return true;
    }

    /**
     * True once the connection has no {@link OutboundTopicAliasHandler}: it removes itself after a
     * CONNECT that enables no aliases and is never added back, so the answer is kept once true.
     */
    private boolean topicAliasesOff() {
        if (!aliasesOff && scope.channel.pipeline().context(OutboundTopicAliasHandler.NAME) == null) {
            aliasesOff = true;
        }
        return aliasesOff;
    }

    void sendPubrel(int packetId) {
        if (scope.state() == ConnectionState.CONNECTED && scope.channel.isActive()) {
            scope.channel.write(Packets.pubReply(MqttMessageType.PUBREL, packetId, ReasonCodes.SUCCESS,
                    MqttProperties.NO_PROPERTIES));
        }
    }

    /**
     * Holds the PUBACK until {@link #flushPubacks}: the connection hands the engine the PUBACKs of
     * one read together (one operation and one window refill for them all, instead of one per
     * message: engine/README.md "Delivery"), and flushes them before any other packet, at the end
     * of each read and when the connection ends, so the engine still sees every packet in the
     * order the client sent it.
     */
    void receivePuback(int packetId) {
        if (pendingPubacks == MAX_PUBACKS_PER_CALL) {
            flushPubacks();
        }
        pendingPubackIds[pendingPubacks++] = packetId;
    }

    /** Event loop: the PUBACKs held since the last flush, to the engine in one call, then to the interceptors. */
    void flushPubacks() {
        int n = pendingPubacks;
        if (n == 0) {
            return;
        }
        pendingPubacks = 0;
        int[] ids = pendingPubackIds;
        if (n == 1) {
            int id = ids[0];
            scope.engineCall("PUBACK", () -> scope.session.puback(id));
        } else {
            int[] batch = java.util.Arrays.copyOf(ids, n); // the engine may keep it past this call (its error message)
            scope.engineCall("PUBACK", () -> scope.session.pubacks(batch, n));
        }
        for (int i = 0; i < n; i++) {
            String topic = outboundTopics.remove(ids[i]);
            scope.context.interceptors().acknowledged(scope.clientId, scope.username, topic, ids[i]);
        }
    }

    void receivePubrec(MqttMessage packet, int packetId) {
        if (scope.isV5() && packet.variableHeader() instanceof MqttPubReplyMessageVariableHeader reply
                && (reply.reasonCode() & 0xFF) >= 0x80) {
            // The subscriber refused the message: the QoS 2 exchange ends here (MQTT 5 section 4.3.3).
            outboundTopics.remove(packetId);
            scope.engineCall("PUBREC", () -> scope.session.discard(packetId, "refused_by_subscriber"));
            return;
        }
        scope.engineCall("PUBREC", () -> scope.session.pubrec(packetId));
    }

    void receivePubcomp(int packetId) {
        String topic = outboundTopics.remove(packetId);
        scope.engineCall("PUBCOMP", () -> scope.session.pubcomp(packetId));
        scope.context.interceptors().acknowledged(scope.clientId, scope.username, topic, packetId);
    }
}
