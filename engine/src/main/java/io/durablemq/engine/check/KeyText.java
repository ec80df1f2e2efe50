package io.durablemq.engine.check;

import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/** Human-readable descriptions of store keys for reports ("client 'a' queue seq 17"). */
final class KeyText {
    private KeyText() {
    }

    static String describe(StoreColumn column, byte[] key) {
        if (key == null) {
            return null;
        }
        try {
            return switch (column) {
                case SESSIONS -> "client '" + Keys.clientIdOf(key) + "'";
                case WILLS -> "client '" + Keys.clientIdOf(key) + "' will";
                case SUBSCRIPTIONS -> "client '" + Keys.clientIdOf(key) + "' filter '" + Keys.filterOf(key) + "'";
                case QUEUES -> "client '" + Keys.clientIdOf(key) + "' queue seq " + Keys.seqOf(key);
                case INFLIGHT, QOS2_RECEIVED -> "client '" + Keys.clientIdOf(key) + "' packet id " + Keys.packetIdOf(key);
                case MESSAGES -> "message id " + Keys.messageIdOf(key);
                case REFCOUNTS -> "reference count of message id " + Keys.messageIdOf(key);
                case RETAINED -> "topic '" + new String(key, StandardCharsets.UTF_8) + "'";
                case META -> new String(key, StandardCharsets.UTF_8);
            };
        } catch (RuntimeException e) {
            return "key 0x" + HexFormat.of().formatHex(key);
        }
    }

    /** The client id a session-keyed record belongs to, or null for other column families or a bad key. */
    static String clientOf(StoreColumn column, byte[] key) {
        return switch (column) {
            case SESSIONS, SUBSCRIPTIONS, QUEUES, INFLIGHT, QOS2_RECEIVED, WILLS -> {
                try {
                    yield Keys.clientIdOf(key);
                } catch (RuntimeException e) {
                    yield null;
                }
            }
            default -> null;
        };
    }
}
