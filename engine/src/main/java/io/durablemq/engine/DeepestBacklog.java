package io.durablemq.engine;

import io.durablemq.engine.delivery.SubscriberBacklog;

import java.util.List;

/**
 * Finds, among the sessions one publish was just queued for, the online one with the longest
 * queue. The publisher's own session is never named: a client that subscribes to its own
 * publishes must not be slowed down by its own queue, since pausing its socket would also stop
 * the acknowledgements that drain that queue. Offline sessions are not named either: their
 * queues fill to the configured limits as they always did. Called under the engine's lock.
 */
final class DeepestBacklog {
    private DeepestBacklog() {
    }

    static SubscriberBacklog of(List<EngineSession> routed, EngineSession publisher) {
        EngineSession deepest = null;
        for (EngineSession s : routed) {
            if (s != publisher && s.isOnline() && (deepest == null || s.queue.size() > deepest.queue.size())) {
                deepest = s;
            }
        }
        return deepest == null ? null : new SubscriberBacklog(deepest.clientId, deepest.queue.size());
    }
}
