package io.durablemq.engine.topic;

import java.util.List;

/**
 * Per filter, in request order: the granted QoS (0..2), {@link #REJECTED} for an invalid
 * filter, or {@link #QUOTA_EXCEEDED} when the session already holds its maximum number of
 * subscriptions (MQTT 5 reason 0x97; 3.1.1 clients get 0x80).
 */
public record SubscribeResult(List<Integer> granted) {
    public static final int REJECTED = 0x80;
    public static final int QUOTA_EXCEEDED = 0x97;

    public SubscribeResult {
        granted = List.copyOf(granted);
    }
}
