package io.durablemq.engine.topic;

import java.util.Objects;

/**
 * A topic filter with its options as the client sent it. A filter of the form
 * {@code $share/group/filter} is a shared subscription; see {@link TopicFilter#parse}.
 */
public record Subscription(String filter, SubscriptionOptions options) {
    public Subscription {
        Objects.requireNonNull(filter, "filter");
        Objects.requireNonNull(options, "options");
    }

    public static Subscription of(String filter, int maxQos) {
        return new Subscription(filter, SubscriptionOptions.ofQos(maxQos));
    }
}
