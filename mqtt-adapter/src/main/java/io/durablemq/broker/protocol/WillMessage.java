package io.durablemq.broker.protocol;

import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageProperties;

/**
 * A CONNECT's will, kept by the connection until it ends.
 *
 * @param expirySeconds MQTT 5 message expiry interval, -1 when absent
 * @param delaySeconds  MQTT 5 will delay interval (0 for 3.1.1)
 */
record WillMessage(String topic, byte[] payload, int qos, boolean retain, MessageProperties properties,
                   long expirySeconds, long delaySeconds) {

    /** The message as published when the will fires; the expiry counts from that moment. */
    Message toMessage(long nowMillis) {
        long expiresAt = expirySeconds > 0 ? nowMillis + expirySeconds * 1000 : 0;
        return new Message(topic, payload, qos, retain, properties, expiresAt);
    }
}
