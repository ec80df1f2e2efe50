package io.durablemq.engine.delivery;

import java.util.Objects;

/**
 * How far behind one online subscriber of a publish is: the messages waiting in its queue
 * (not counting its in-flight window) right after the publish was routed. The broker compares
 * this with its back-pressure watermarks to decide whether to slow the publisher down.
 *
 * @param clientId        the subscriber's session
 * @param queuedMessages  its queue length at routing time
 */
public record SubscriberBacklog(String clientId, int queuedMessages) {
    public SubscriberBacklog {
        Objects.requireNonNull(clientId, "clientId");
    }
}
