package io.durablemq.engine.store;

/**
 * Test-only fault injection into the commit path: around the committer's store write, and
 * inside an operation (between two target queues of a routed message). Production uses {@link #NONE};
 * tests pass a hook through {@code EngineConfig.withCommitFaults} to throw what a disk, RocksDB
 * or the JVM could throw at the worst moments: before the write (nothing written) or after it
 * (the batch is in the store but the caller sees an error: the unknown outcome).
 */
public interface CommitFaults {
    CommitFaults NONE = new CommitFaults() {
    };

    /** Called on the committer thread just before a batch of {@code writes} writes goes to the store. */
    default void beforeWrite(int writes) {
    }

    /** Called on the committer thread just after the store accepted a batch of {@code writes} writes. */
    default void afterWrite(int writes) {
    }

    /**
     * Called by the engine, under its lock, while it routes one message: after it queued the
     * message for {@code queuedSoFar} sessions and before the next. A throw here is an error in
     * the middle of an operation (as an OutOfMemoryError between two queues once was).
     */
    default void routedTo(int queuedSoFar) {
    }

    /**
     * How long a batch of operations that may wait for the next commit ({@link Committer#mayWaitForNextCommit()})
     * waits before the writer takes it alone; a test stretches it so that only the next operation that may not
     * wait, or the close, can take them.
     */
    default long rideAlongMillis() {
        return Committer.RIDE_ALONG_MILLIS;
    }
}
