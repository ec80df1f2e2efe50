package io.durablemq.engine;

import io.durablemq.engine.queue.UnwrittenMarks;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One partition of the engine (engine/README.md, "The partitioned engine: design"): the sessions
 * whose client id hashes here ({@link PartitionLocks#partitionOf}), their counters and the
 * unwritten marks of their queues, all changed only under {@link #lock}. The counters are
 * volatile so that {@code stats()} and admission can sum them over partitions without taking
 * any lock (a sum may miss the operations in progress elsewhere: at most one publish's size each).
 */
final class Partition {
    final int index;
    /** This partition's lock (one of {@link PartitionLocks}): held by every operation on its sessions. */
    final ReentrantLock lock;
    final Map<String, EngineSession> sessions = new HashMap<>();
    volatile long queuedMessages;
    volatile long queuedBytes;
    volatile long inflightMessages;
    volatile long onlineSessions;
    /** Queues of this partition with entries only the open batch holds (see PagedQueue). */
    final UnwrittenMarks unwrittenMarks;

    Partition(int index, ReentrantLock lock) {
        this.index = index;
        this.lock = lock;
        this.unwrittenMarks = new UnwrittenMarks(lock);
    }

    /** Under the lock, by a reset: the image is rebuilt from the store. */
    void clearCounters() {
        queuedMessages = 0;
        queuedBytes = 0;
        inflightMessages = 0;
        onlineSessions = 0;
    }
}
