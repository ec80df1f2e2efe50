package io.durablemq.engine.metrics;

/** Live counts the engine keeps, read by gauges and tests. */
public interface EngineStats {
    long queuedMessages();

    long queuedBytes();

    long inflightMessages();

    long onlineSessions();

    long offlineSessions();

    long storedBodies();

    long retainedMessages();

    long storeSizeBytes();
}
