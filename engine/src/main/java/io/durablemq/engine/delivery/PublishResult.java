package io.durablemq.engine.delivery;

/**
 * The engine's answer to an inbound PUBLISH, given once the outcome is durable.
 *
 * @param status          what happened
 * @param matchedSessions how many sessions the message was routed to (0 also for duplicates)
 * @param deepestBacklog  of the ONLINE sessions this publish was queued for, other than the
 *                        publisher's own, the one with the longest queue; null when there is none
 *                        (the broker's back-pressure watches it, see mqtt-adapter/README.md)
 */
public record PublishResult(Status status, int matchedSessions, SubscriberBacklog deepestBacklog) {

    /** A result that names no backlog (duplicates, refusals, publishes queued for nobody online). */
    public PublishResult(Status status, int matchedSessions) {
        this(status, matchedSessions, null);
    }

    public enum Status {
        /** Routed and durable: acknowledge (PUBACK / PUBREC). */
        ACCEPTED,
        /** A QoS 2 resend of a packet id already received and not yet released: PUBREC again, not routed again. */
        DUPLICATE,
        /** A matching session's queue is full and the overflow policy is to reject: not routed, not acknowledged as success. */
        QUOTA_EXCEEDED,
        /** The broker-wide queue budget ({@code max_total_queued_bytes}) is used up: not routed (quota answer). */
        BUDGET_EXCEEDED,
        /** The heap guard refuses new publishes (heap nearly full after garbage collection): not routed (quota answer). */
        HEAP_PRESSURE;

        /** True for the refusals that MQTT answers with "quota exceeded" (0x97). */
        public boolean isQuotaRefusal() {
            return this == QUOTA_EXCEEDED || this == BUDGET_EXCEEDED || this == HEAP_PRESSURE;
        }
    }

    public boolean isSuccess() {
        return !status.isQuotaRefusal();
    }
}
