package io.durablemq.engine.topic;

import java.util.List;

/**
 * Per filter, in request order: the granted QoS (0..2), or {@link #REJECTED} for an invalid
 * filter or one over a configured limit.
 */
public record SubscribeResult(List<Integer> granted) {
    public static final int REJECTED = 0x80;

    public SubscribeResult {
        granted = List.copyOf(granted);
    }
}
