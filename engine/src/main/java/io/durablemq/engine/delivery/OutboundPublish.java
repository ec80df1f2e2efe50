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
 */
public record OutboundPublish(int packetId, int qos, boolean dup, boolean retain, Message message,
                              List<Integer> subscriptionIds) {
    public OutboundPublish {
        subscriptionIds = subscriptionIds == null ? List.of() : List.copyOf(subscriptionIds);
    }
}
