package io.durablemq.cluster;

/**
 * Asks for a snapshot once the entries applied since the last snapshot reach a number of bytes
 * ({@link RaftLogHeapBudget#snapshotEveryBytes()}). Ratis's own trigger counts entries only, and an entry
 * holds one message or several hundred, so 100,000 entries are anything from 30 MB to 20 GB of log; what
 * a restart must read back (and may hold on the heap while it does) is bytes. A snapshot then purges the
 * log up to it. If a request brings no snapshot (none can be taken during a hand-over or while a replay
 * still skips), it is asked again after as many bytes more.
 *
 * <p>Called on Ratis's apply thread (applies and snapshots) and on an install's thread: synchronized.
 */
final class LogBytesSnapshotTrigger {
    private final long everyBytes;
    private final Runnable requestSnapshot;
    private long sinceSnapshot;
    private long nextRequestAt;
    private long requests;

    LogBytesSnapshotTrigger(long everyBytes, Runnable requestSnapshot) {
        if (everyBytes < 1) {
            throw new IllegalArgumentException("snapshot every " + everyBytes + " bytes");
        }
        this.everyBytes = everyBytes;
        this.requestSnapshot = requestSnapshot;
        this.nextRequestAt = everyBytes;
    }

    /** An entry of {@code bytes} was applied (or skipped by a replay: a replay reads it all the same). */
    void applied(long bytes) {
        boolean request;
        synchronized (this) {
            sinceSnapshot += bytes;
            request = sinceSnapshot >= nextRequestAt;
            if (request) {
                nextRequestAt = sinceSnapshot + everyBytes;
                requests++;
            }
        }
        if (request) {
            requestSnapshot.run(); // asynchronous: Ratis takes it on the apply thread after this apply
        }
    }

    /** A snapshot was taken or installed: the log to read back starts after it. */
    synchronized void snapshotTaken() {
        sinceSnapshot = 0;
        nextRequestAt = everyBytes;
    }

    synchronized long sinceSnapshot() {
        return sinceSnapshot;
    }

    synchronized long requests() {
        return requests;
    }
}
