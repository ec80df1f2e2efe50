package io.durablemq.engine;

import java.time.Duration;

/** What the engine found in the store when it opened. */
public record RecoveryReport(Duration duration, int sessions, int subscriptions, long queuedMessages,
                             long inflightMessages, long storedBodies, int qos2Received,
                             int retainedMessages, long orphanBodiesRemoved) {
}
