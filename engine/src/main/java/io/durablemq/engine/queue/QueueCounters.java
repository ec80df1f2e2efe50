package io.durablemq.engine.queue;

/**
 * The stored summary of one session's queue, kept in its session record and rewritten in the
 * same batch as every change of the queue: how many entries and bytes it holds, and the
 * sequence number the next entry gets. Recovery and the queue limits use these instead of
 * counting entries, so a queue can live on disk and only its head in memory.
 */
public record QueueCounters(long messages, long bytes, long nextSeq) {
    public static final QueueCounters EMPTY = new QueueCounters(0, 0, 1);

    public QueueCounters {
        if (messages < 0 || bytes < 0 || nextSeq < 1) {
            throw new IllegalArgumentException("queue counters out of range: messages " + messages
                    + ", bytes " + bytes + ", next seq " + nextSeq);
        }
    }
}
