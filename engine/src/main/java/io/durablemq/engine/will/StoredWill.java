package io.durablemq.engine.will;

import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageProperties;

import java.util.Objects;

/**
 * A connection's will as the engine keeps it with the session (column family {@code wills}).
 *
 * @param message               topic, payload, QoS, retain flag and MQTT 5 properties; its
 *                              {@code expiresAtMillis} is unused (the expiry counts from firing)
 * @param messageExpirySeconds  MQTT 5 message expiry interval of the will, -1 when absent
 * @param delaySeconds          MQTT 5 will delay interval (0 for 3.1.1)
 * @param username              the user the connection authenticated as (null: anonymous), for
 *                              the publish ACL check when the will fires
 * @param endedAtMillis         when the connection ended; 0 while it is connected
 */
public record StoredWill(Message message, long messageExpirySeconds, long delaySeconds, String username,
                         long endedAtMillis) {

    public StoredWill {
        Objects.requireNonNull(message, "message");
        if (delaySeconds < 0) {
            throw new IllegalArgumentException("will delay must not be negative: " + delaySeconds);
        }
    }

    public static StoredWill of(String topic, byte[] payload, int qos, boolean retain, MessageProperties properties,
                                long messageExpirySeconds, long delaySeconds, String username) {
        return new StoredWill(new Message(topic, payload, qos, retain, properties, 0), messageExpirySeconds,
                delaySeconds, username, 0);
    }

    public String topic() {
        return message.topic();
    }

    public boolean connected() {
        return endedAtMillis == 0;
    }

    public StoredWill endedAt(long millis) {
        return new StoredWill(message, messageExpirySeconds, delaySeconds, username, millis);
    }

    /**
     * When the will is sent: MQTT 5 section 3.1.3.2.2, at the end of the will delay or when the
     * session ends, whichever comes first (session expiry 0: at once). Only for an ended connection.
     */
    public long dueAtMillis(long sessionExpirySeconds) {
        if (connected()) {
            throw new IllegalStateException("a connected client's will is not due");
        }
        long seconds = Math.min(delaySeconds, Math.max(0, sessionExpirySeconds));
        return endedAtMillis + seconds * 1000;
    }

    /** The message as published when the will fires; its expiry counts from that moment. */
    public Message toMessage(long nowMillis) {
        long expiresAt = messageExpirySeconds > 0 ? nowMillis + messageExpirySeconds * 1000 : 0;
        return new Message(message.topic(), message.payload(), message.qos(), message.retain(), message.properties(),
                expiresAt);
    }
}
