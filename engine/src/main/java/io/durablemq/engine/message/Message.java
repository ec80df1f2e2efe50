package io.durablemq.engine.message;

import java.util.Objects;

/**
 * An application message as published: immutable, stored once however many sessions it is
 * queued for.
 *
 * @param topic          the concrete topic name (no wildcards)
 * @param payload        the body; never modified after construction
 * @param qos            the QoS it was published with (0, 1 or 2)
 * @param retain         the RETAIN flag as published
 * @param properties     MQTT 5 properties forwarded to subscribers
 * @param expiresAtMillis epoch millis after which it must not be delivered; 0 = never
 */
public record Message(String topic, byte[] payload, int qos, boolean retain,
                      MessageProperties properties, long expiresAtMillis) {

    public Message {
        Objects.requireNonNull(topic, "topic");
        Objects.requireNonNull(payload, "payload");
        if (qos < 0 || qos > 2) {
            throw new IllegalArgumentException("qos must be 0, 1 or 2: " + qos);
        }
        properties = properties == null ? MessageProperties.NONE : properties;
    }

    public static Message of(String topic, byte[] payload, int qos) {
        return new Message(topic, payload, qos, false, MessageProperties.NONE, 0);
    }

    public boolean isExpired(long nowMillis) {
        return expiresAtMillis != 0 && nowMillis >= expiresAtMillis;
    }

    /** Seconds left before expiry, rounded up, for the outbound Message Expiry Interval; -1 if none. */
    public long remainingExpirySeconds(long nowMillis) {
        if (expiresAtMillis == 0) {
            return -1;
        }
        return Math.max(0, (expiresAtMillis - nowMillis + 999) / 1000);
    }

    public Message withQos(int newQos) {
        return newQos == qos ? this : new Message(topic, payload, newQos, retain, properties, expiresAtMillis);
    }

    public Message withRetain(boolean newRetain) {
        return newRetain == retain ? this : new Message(topic, payload, qos, newRetain, properties, expiresAtMillis);
    }

    /** Approximate bytes this message accounts for in queue-size limits. */
    public int sizeEstimate() {
        return topic.length() + payload.length + 32;
    }
}
