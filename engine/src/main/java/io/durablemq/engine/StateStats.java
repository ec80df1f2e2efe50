package io.durablemq.engine;

import io.durablemq.engine.metrics.EngineStats;

/** The engine's figures ({@link Engine#stats()}), each partition's counter summed without a lock
 * (volatile fields: a sum may miss an operation in progress in another partition). */
final class StateStats implements EngineStats {
    private final EngineState st;

    StateStats(EngineState st) {
        this.st = st;
    }

    @Override
    public long queuedMessages() {
        return st.partitions.queuedMessages();
    }

    @Override
    public long queuedBytes() {
        return st.partitions.queuedBytes();
    }

    @Override
    public long inflightMessages() {
        return st.partitions.inflightMessages();
    }

    @Override
    public long onlineSessions() {
        return st.partitions.onlineSessions();
    }

    @Override
    public long offlineSessions() {
        try (PartitionLocks.Held all = st.partitions.lockAll()) { // the map's size is not safe to read while it changes
            return st.sessions.size() - st.partitions.onlineSessions();
        }
    }

    @Override
    public long storedBodies() {
        return st.refs.storedBodies(); // an AtomicLong (BodyRefs)
    }

    @Override
    public long retainedMessages() {
        return st.retained.size(); // a ConcurrentHashMap (RetainedMessages)
    }

    @Override
    public long storeSizeBytes() {
        st.storeLock.readLock().lock();
        try {
            if (st.closed) { // volatile; the store lock's read side keeps close from closing it under us
                return 0;
            }
            return st.store.sizeOnDisk();
        } catch (java.io.UncheckedIOException e) {
            return 0;
        } finally {
            st.storeLock.readLock().unlock();
        }
    }
}
