package io.durablemq.engine.delivery;

/**
 * What happens when a routed message would take a session's queue past its message or byte
 * limit. Every outcome is counted in {@code durablemq_messages_dropped_total} or answered to
 * the publisher; none is silent.
 */
public enum OverflowPolicy {
    /** Refuse the whole publish: the publisher gets an error (MQTT 5 reason 0x97 Quota exceeded). */
    REJECT,
    /** Route to the other sessions, drop for the full one (reason queue_full). */
    DROP_NEW,
    /** Evict the full session's oldest queued message to make room (reason queue_full_evicted). */
    DROP_OLDEST;

    public static OverflowPolicy parse(String text) {
        return switch (text.trim().toLowerCase(java.util.Locale.ROOT).replace('-', '_')) {
            case "reject" -> REJECT;
            case "drop_new" -> DROP_NEW;
            case "drop_oldest" -> DROP_OLDEST;
            default -> throw new IllegalArgumentException(
                    "unknown overflow policy '" + text + "': use reject, drop_new or drop_oldest");
        };
    }
}
