package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightState;

import java.util.Map;

/**
 * A read-only view of one session for operators and tests.
 *
 * @param queueInMemory queue entries held in memory (the paged queue's head and unwritten tail), of {@code queuedMessages}
 */
public record SessionSnapshot(String clientId, boolean online, long expirySeconds, int subscriptions,
                              int queuedMessages, long queuedBytes, Map<Integer, InflightState> inflight,
                              int qos2Received, int queueInMemory) {
}
