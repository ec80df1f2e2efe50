package io.durablemq.broker.protocol;

import java.util.UUID;

/** Server-assigned client identifiers (MQTT 5 Assigned Client Identifier; 3.1.1 empty id with clean session). */
final class ClientIds {
    static final String PREFIX = "auto-";

    private ClientIds() {
    }

    /** Random, so it never collides with an earlier session; the prefix marks it as assigned in logs. */
    static String generate() {
        return PREFIX + UUID.randomUUID();
    }
}
