package io.durablemq.engine.delivery;

import io.durablemq.engine.message.Message;

import java.util.List;

/**
 * A PUBLISH the engine asks a connection to send.
 *
 * @param packetId        0 for QoS 0, else the id recorded durably for this in-flight message
 * @param qos             the delivered QoS: the lower of published and subscription QoS
 * @param dup             true when this is a resend of an earlier attempt
 * @param retain          the RETAIN flag to send (retained-on-subscribe, or retain-as-published)
 * @param message         the message; its own qos/retain fields are as published
 * @param subscriptionIds MQTT 5 subscription identifiers of the matching subscriptions
 * @param builtAtNanos    System.nanoTime when the engine built the send under the lock (the
 *                        message taken into the in-flight window, or resent), the start of the
 *                        {@code deliver_total} stage; 0 for none (QoS 0)
 */
public record OutboundPublish(int packetId, int qos, boolean dup, boolean retain, Message message,
                              List<Integer> subscriptionIds, long builtAtNanos) {
    public OutboundPublish {
        subscriptionIds = subscriptionIds == null ? List.of() : List.copyOf(subscriptionIds);
    }

    /** A send not timed ({@code builtAtNanos} 0). */
    public OutboundPublish(int packetId, int qos, boolean dup, boolean retain, Message message,
                           List<Integer> subscriptionIds) {
        this(packetId, qos, dup, retain, message, subscriptionIds, 0);
    }
}
