package io.durablemq.engine.store;

/**
 * Test-only fault injection around the committer's store write. Production uses {@link #NONE};
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
}
