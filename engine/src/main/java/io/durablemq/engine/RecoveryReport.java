package io.durablemq.engine;

import java.time.Duration;

/**
 * What the engine found in the store when it opened. {@code recordsChecked} counts every
 * record recovery read and checked against the store's invariants; a store that breaks one
 * is refused at open, so a report exists only for a consistent store.
 */
public record RecoveryReport(Duration duration, int sessions, int subscriptions, long queuedMessages,
                             long inflightMessages, long storedBodies, int qos2Received,
                             int retainedMessages, long recordsChecked) {
}
