package io.durablemq.engine.topic;

/**
 * Per-subscription options (MQTT 5 SUBSCRIBE options; 3.1.1 clients get the defaults).
 *
 * @param maxQos            the maximum QoS delivered on this subscription
 * @param noLocal           do not deliver messages this session published itself
 * @param retainAsPublished keep the RETAIN flag of forwarded messages
 * @param retainHandling    0 send retained on subscribe, 1 only if new, 2 never
 * @param subscriptionId    MQTT 5 subscription identifier, 0 when absent
 */
public record SubscriptionOptions(int maxQos, boolean noLocal, boolean retainAsPublished,
                                  int retainHandling, int subscriptionId) {
    public SubscriptionOptions {
        if (maxQos < 0 || maxQos > 2) {
            throw new IllegalArgumentException("maxQos must be 0..2: " + maxQos);
        }
        if (retainHandling < 0 || retainHandling > 2) {
            throw new IllegalArgumentException("retainHandling must be 0..2: " + retainHandling);
        }
        if (subscriptionId < 0 || subscriptionId > 268_435_455) {
            throw new IllegalArgumentException("subscriptionId out of range: " + subscriptionId);
        }
    }

    public static SubscriptionOptions ofQos(int maxQos) {
        return new SubscriptionOptions(maxQos, false, false, 0, 0);
    }
}
