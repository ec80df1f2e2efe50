package io.durablemq.broker.protocol;

import io.durablemq.broker.config.Limits;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.metrics.StageTimers.Stage;
import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.topic.TopicFilter;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFuture;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import static io.durablemq.broker.protocol.ConnectionScope.LOG;
import static io.durablemq.broker.protocol.ConnectionScope.unsigned;
import static io.durablemq.broker.protocol.ConnectionScope.unwrap;

/**
 * PUBLISH from the client to the engine: inbound topic aliases, topic checks, the MQTT 5
 * receive maximum, the ACL, and the acknowledgement (PUBACK, or PUBREC then PUBCOMP for the
 * client's PUBREL), each written only once the engine's future says the message is durable.
 */
final class InboundPublishFlow {
    private final ConnectionScope scope;
    private final Limits limits;
    /** Inbound topic aliases; only used on an MQTT 5 connection, null when the broker allows none. */
    private final TopicAliases topicAliases;
    /** Inbound QoS 1/2 packet ids not finished yet (PUBACK, or PUBCOMP for QoS 2): MQTT 5 receive maximum. */
    private final Set<Integer> inboundUnfinished = new HashSet<>();
    /**
     * The latest QoS 1/2 answer in PUBLISH order: done once that answer is queued on the event loop.
     * An answer this flow gives without the engine (an ACL denial) is queued behind it, so it never
     * overtakes an earlier publish still being committed: PUBACKs and PUBRECs leave in the order the
     * PUBLISHes came in (MQTT 3.1.1 section 4.6). The engine's own answers keep that order by
     * themselves (engine/README.md, "The pipelined committer"). Event loop only.
     */
    private CompletableFuture<?> lastAnswer = CompletableFuture.completedFuture(null);

    InboundPublishFlow(ConnectionScope scope) {
        this.scope = scope;
        this.limits = scope.limits;
        this.topicAliases = limits.topicAliasMaximum() > 0 ? new TopicAliases(limits.topicAliasMaximum()) : null;
    }

    void receivePublish(MqttPublishMessage publish) {
        long receivedNanos = System.nanoTime(); // decoded by Netty already: the decode stage is our checks and copy
        int qos = publish.fixedHeader().qosLevel().value();
        int packetId = publish.variableHeader().packetId();
        String topic = publish.variableHeader().topicName();
        boolean v5 = scope.isV5();
        MqttProperties props = v5 ? publish.variableHeader().properties() : MqttProperties.NO_PROPERTIES;
        if (v5) {
            Integer alias = MqttProps.integer(props, MqttPropertyType.TOPIC_ALIAS);
            if (alias != null) {
                if (topicAliases == null || !topicAliases.isValidAlias(alias)) {
                    scope.protocolError(ReasonCodes.TOPIC_ALIAS_INVALID, "topic alias " + alias + " out of range");
                    return;
                }
                if (topic.isEmpty()) {
                    topic = topicAliases.resolve(alias);
                    if (topic == null) {
                        scope.protocolError(ReasonCodes.PROTOCOL_ERROR, "topic alias " + alias + " used before it was set");
                        return;
                    }
                } else {
                    topicAliases.bind(alias, topic);
                }
            }
        }
        if (!TopicFilter.isValidTopicName(topic) || !scope.withinTopicLimits(topic)) {
            scope.protocolError(ReasonCodes.TOPIC_NAME_INVALID, "invalid topic name '" + topic + "'");
            return;
        }
        if (qos > 0 && !inboundUnfinished.contains(packetId)) {
            if (v5 && inboundUnfinished.size() >= limits.receiveMaximum()) {
                scope.protocolError(ReasonCodes.RECEIVE_MAXIMUM_EXCEEDED,
                        "more than receive maximum " + limits.receiveMaximum() + " unacknowledged publishes");
                return;
            }
            inboundUnfinished.add(packetId);
        }
        if (!scope.context.access().canPublish(scope.clientId, scope.username, topic)) {
            refusePublishNotAuthorized(qos, packetId, topic);
            return;
        }
        long expiresAt = 0;
        Integer expiry = MqttProps.integer(props, MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL);
        if (expiry != null) {
            expiresAt = System.currentTimeMillis() + unsigned(expiry, 0) * 1000;
        }
        Message message = new Message(topic, ByteBufUtil.getBytes(publish.content()), qos,
                publish.fixedHeader().isRetain(), MqttProps.forwarded(props), expiresAt);
        CompletableFuture<PublishResult> result;
        if (qos > 0) {
            scope.context.metrics().publishStage(Stage.DECODE, System.nanoTime() - receivedNanos);
        }
        try {
            result = scope.session.publish(qos == 0 ? 0 : packetId, message);
        } catch (RuntimeException e) {
            result = CompletableFuture.failedFuture(e);
        }
        // QoS 0 has no ack to keep in order, so a result that is already there is used at once.
        if (qos == 0 && result.isDone()) {
            publishStored(message, packetId, result.getNow(null), failureOf(result), 0);
        } else {
            // Completed on the commit completion thread: note when, for the send stage, then queue
            // the outcome for the event loop, in completion order (LoopWrites).
            CompletableFuture<?> answered = result.whenComplete((r, e) -> {
                long completedNanos = System.nanoTime();
                scope.fromEngine.add(() -> publishStored(message, packetId, r, e, completedNanos));
            });
            if (qos > 0) {
                lastAnswer = answered;
            }
        }
    }

    private static Throwable failureOf(CompletableFuture<?> done) {
        try {
            done.join();
            return null;
        } catch (CompletionException | CancellationException e) {
            return e;
        }
    }

    /**
     * A publish the ACL denies. MQTT 5 answers reason 0x87. MQTT 3.1.1 has no negative ack; its
     * section 3.3.5 lets the server either acknowledge without routing or close the connection.
     * Like Moquette, DurableMQ acknowledges and drops (a client in a reconnect loop over one
     * forbidden message would otherwise never make progress); the log line says so.
     */
    private void refusePublishNotAuthorized(int qos, int packetId, String topic) {
        boolean v5 = scope.isV5();
        LOG.info("publish of client {} to topic {} denied by the ACL{}", scope.clientId, topic,
                v5 ? "" : " (acknowledged and dropped, MQTT 3.1.1)");
        if (qos == 0) {
            return;
        }
        // Behind the answer of the PUBLISH before it (lastAnswer), on the same first-in-first-out queue
        // (LoopWrites) even when that one is done, since its PUBACK task may still wait there.
        lastAnswer = lastAnswer.whenComplete((r, e) -> scope.fromEngine.add(() -> answerNotAuthorized(qos, packetId, v5)));
    }

    private void answerNotAuthorized(int qos, int packetId, boolean v5) {
        if (!scope.channel.isActive()) {
            return; // nothing to acknowledge on a closed connection: the client resends
        }
        if (qos == 1) {
            inboundUnfinished.remove(packetId);
            scope.writeAck(MqttMessageType.PUBACK, packetId, v5 ? ReasonCodes.NOT_AUTHORIZED : ReasonCodes.SUCCESS,
                    "not authorized");
        } else if (qos == 2) {
            if (v5) {
                inboundUnfinished.remove(packetId); // a PUBREC with a failure code ends the exchange
            }
            scope.writeAck(MqttMessageType.PUBREC, packetId, v5 ? ReasonCodes.NOT_AUTHORIZED : ReasonCodes.SUCCESS,
                    "not authorized");
        }
    }

    /** {@code completedNanos}: when the engine's future completed (System.nanoTime), for the send stage. */
    private void publishStored(Message message, int packetId, PublishResult result, Throwable error,
                               long completedNanos) {
        int qos = message.qos();
        if (qos > 0 && completedNanos != 0) {
            scope.context.metrics().publishStage(Stage.LOOP_HOP, System.nanoTime() - completedNanos);
        }
        if (!scope.channel.isActive()) {
            return; // nothing to acknowledge on a closed connection: the client resends
        }
        if (error != null) {
            Throwable cause = unwrap(error);
            if (cause instanceof SessionClosedException) {
                return;
            }
            LOG.warn("publish of client {} to topic {} not acknowledged, closing: {}", scope.clientId, message.topic(),
                    cause.toString());
            closeUnacknowledged(qos);
            return;
        }
        switch (result.status()) {
            case ACCEPTED, DUPLICATE -> {
                byte code = scope.isV5() && result.status() == PublishResult.Status.ACCEPTED
                        && result.matchedSessions() == 0 ? ReasonCodes.NO_MATCHING_SUBSCRIBERS : ReasonCodes.SUCCESS;
                // Unflushed: LoopWrites flushes once after every acknowledgement ready for this connection.
                if (qos == 1) {
                    inboundUnfinished.remove(packetId);
                    timeSend(scope.writeAckUnflushed(MqttMessageType.PUBACK, packetId, code, null), completedNanos);
                } else if (qos == 2) {
                    timeSend(scope.writeAckUnflushed(MqttMessageType.PUBREC, packetId, code, null), completedNanos);
                }
                // After the ack: the client gets its PUBACK / PUBREC, then is read no further while
                // the subscriber it fills is too far behind (PublisherBackpressure).
                scope.context.backpressure().routed(scope.channel, result.deepestBacklog());
                if (result.status() == PublishResult.Status.ACCEPTED && !scope.context.interceptors().isEmpty()) {
                    scope.context.interceptors().published(Packets.publish(message.topic(), qos, false, message.retain(),
                            packetId, message.payload(), MqttProperties.NO_PROPERTIES), scope.clientId, scope.username);
                }
            }
            case QUOTA_EXCEEDED -> {
                LOG.info("publish of client {} to topic {} refused: a subscriber's queue is full", scope.clientId,
                        message.topic());
                refusePublish(qos, packetId, ReasonCodes.QUOTA_EXCEEDED, "a subscriber's queue is full");
            }
            // Broker-wide refusals: the engine counts and logs them (throttled), so no line per publish here.
            case BUDGET_EXCEEDED -> refusePublish(qos, packetId, ReasonCodes.QUOTA_EXCEEDED,
                    "the broker's queue budget is used up; retry later", false);
            case HEAP_PRESSURE -> refusePublish(qos, packetId, ReasonCodes.QUOTA_EXCEEDED,
                    "the broker is short of memory; retry later", false);
        }
    }

    /** Records the send stage once the acknowledgement's write finished (the listener runs on the event loop). */
    private void timeSend(ChannelFuture write, long completedNanos) {
        write.addListener(f -> scope.context.metrics().publishStage(Stage.SEND, System.nanoTime() - completedNanos));
    }

    /**
     * The commit of a publish failed. Its outcome is unknown: the write may have reached the WAL
     * before the error, and the engine's reset replays it. A PUBACK / PUBREC 0x80 would tell an
     * MQTT 5 application "not stored", and the new publish it then makes is a second copy (a
     * QoS 2 duplicate if the first was stored after all). So no acknowledgement at all, as for
     * MQTT 3.1.1: the connection closes (MQTT 5 first gets DISCONNECT 0x80, which acknowledges
     * nothing) and the client resends with DUP and the same packet id after reconnecting; the
     * engine's QoS 2 receive record then answers a stored message as a duplicate.
     */
    private void closeUnacknowledged(int qos) {
        if (qos == 0) {
            return; // nothing to acknowledge, nothing promised
        }
        scope.disconnectWith(ReasonCodes.UNSPECIFIED_ERROR,
                "the store failed to commit; reconnect and resend unacknowledged publishes with the same packet id");
    }

    /**
     * The engine did not take a publish. MQTT 5 says so in the PUBACK / PUBREC; MQTT 3.1.1 cannot,
     * and acknowledging would promise what the store does not hold, so the connection is closed
     * unacknowledged and the client resends after reconnecting.
     */
    private void refusePublish(int qos, int packetId, byte code, String why) {
        refusePublish(qos, packetId, code, why, true);
    }

    /** {@code logClose} false for broker-wide refusals, which the engine logs itself (throttled): one line per reconnect of every publisher would flood the log. */
    private void refusePublish(int qos, int packetId, byte code, String why, boolean logClose) {
        if (qos == 0) {
            return;
        }
        if (scope.isV5()) {
            inboundUnfinished.remove(packetId);
            scope.writeAck(qos == 1 ? MqttMessageType.PUBACK : MqttMessageType.PUBREC, packetId, code, why);
        } else {
            if (logClose) {
            LOG.warn("closing MQTT 3.1.1 client {}: {} and 3.1.1 has no negative acknowledgement", scope.clientId, why);
            } else {
                LOG.debug("closing MQTT 3.1.1 client {}: {} and 3.1.1 has no negative acknowledgement", scope.clientId, why);
            }
            scope.closeSilently();
        }
    }

    /** The client's PUBREL of an inbound QoS 2 message: PUBCOMP once the release is durable. */
    void receivePubrel(int packetId) {
        CompletableFuture<Void> released;
        try {
            released = scope.session.release(packetId);
        } catch (RuntimeException e) {
            released = CompletableFuture.failedFuture(e);
        }
        // Through the same queue as the PUBACKs and PUBRECs, so the loop writes them in completion order.
        released.whenComplete((v, error) -> scope.fromEngine.add(() -> {
            if (!scope.channel.isActive()) {
                return;
            }
            if (error != null) {
                Throwable cause = unwrap(error);
                if (!(cause instanceof SessionClosedException)) {
                    // Without a durable release there is no PUBCOMP; the client resends PUBREL after reconnecting.
                    LOG.warn("PUBREL {} of client {} not stored, closing: {}", packetId, scope.clientId, cause.toString());
                    scope.closeSilently();
                }
                return;
            }
            inboundUnfinished.remove(packetId);
            scope.writeAckUnflushed(MqttMessageType.PUBCOMP, packetId, ReasonCodes.SUCCESS, null);
        }));
    }
}
