package io.durablemq.engine.session;

import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.topic.SubscribeResult;
import io.durablemq.engine.topic.Subscription;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * One connection's grip on its session. Every future completes only after everything the
 * engine did before it is durable, so an acknowledgement sent on completion never promises
 * more than the store holds. After takeover, discard or close, operations fail with
 * {@link SessionClosedException}.
 */
public interface SessionHandle {

    String clientId();

    /** True when CONNECT resumed an existing session (CONNACK session-present). */
    boolean sessionPresent();

    /**
     * Start pushing to the listener: first the resend list (in-flight PUBLISHes with DUP and
     * PUBRELs, in their original order), then queued messages. Call after CONNACK is written.
     */
    void startDelivery();

    /**
     * An inbound PUBLISH. QoS 0 completes at once (never stored); QoS 1 and 2 complete when the
     * message and its routing are durable. For QoS 2 a packet id already received and not yet
     * released answers {@link PublishResult.Status#DUPLICATE} and is not routed again.
     */
    CompletableFuture<PublishResult> publish(int packetId, Message message);

    /** An inbound PUBREL: forget the QoS 2 packet id; complete means PUBCOMP may be sent. */
    CompletableFuture<Void> release(int packetId);

    CompletableFuture<SubscribeResult> subscribe(List<Subscription> subscriptions);

    /** Per filter: true if a subscription existed and was removed. */
    CompletableFuture<List<Boolean>> unsubscribe(List<String> filters);

    /** PUBACK for an outbound QoS 1 message. Unknown ids are ignored. */
    CompletableFuture<Void> puback(int packetId);

    /**
     * PUBACKs for several outbound QoS 1 messages, the first {@code count} of {@code packetIds} in
     * the order the client sent them: as {@link #puback} for each in turn, in one operation with
     * one refill of the window after them all (the refill cannot hand a freed id out again before
     * a later PUBACK of the same batch is applied: a repeated id is ignored as unknown).
     */
    CompletableFuture<Void> pubacks(int[] packetIds, int count);

    /** PUBREC for an outbound QoS 2 message: the listener's onPubrel follows once durable. */
    CompletableFuture<Void> pubrec(int packetId);

    /** PUBCOMP for an outbound QoS 2 message. */
    CompletableFuture<Void> pubcomp(int packetId);

    /**
     * The connection could not send an outbound message (e.g. larger than the client's maximum
     * packet size): drop it from the in-flight window, counted under {@code reason}.
     */
    CompletableFuture<Void> discard(int packetId, String reason);

    /**
     * The network connection ended other than by a normal DISCONNECT: as
     * {@link #disconnect(long, WillAtEnd)} with {@link WillAtEnd#DUE}.
     */
    default CompletableFuture<Void> disconnect(long sessionExpirySeconds) {
        return disconnect(sessionExpirySeconds, WillAtEnd.DUE);
    }

    /**
     * The network connection ended. {@code sessionExpirySeconds} replaces the session's expiry
     * interval when not negative (MQTT 5 DISCONNECT); a session with expiry 0 is discarded.
     * {@code will} says what happens to the stored will, in this commit (see {@link WillAtEnd}).
     */
    CompletableFuture<Void> disconnect(long sessionExpirySeconds, WillAtEnd will);
}
