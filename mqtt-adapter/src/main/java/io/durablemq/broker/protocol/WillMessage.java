package io.durablemq.broker.protocol;

import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.will.StoredWill;

/**
 * A CONNECT's will as the connection read it; the engine stores it with the session.
 *
 * @param expirySeconds MQTT 5 message expiry interval, -1 when absent
 * @param delaySeconds  MQTT 5 will delay interval (0 for 3.1.1)
 */
record WillMessage(String topic, byte[] payload, int qos, boolean retain, MessageProperties properties,
                   long expirySeconds, long delaySeconds) {

    /** The will as the engine stores it with the session; {@code username} is checked against the ACL when it fires. */
    StoredWill toStored(String username) {
        return StoredWill.of(topic, payload, qos, retain, properties, expirySeconds, delaySeconds, username);
    }
}
