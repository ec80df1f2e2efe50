package io.durablemq.engine;

import io.durablemq.engine.metrics.EngineStats;

/** The engine's figures ({@link Engine#stats()}), each read from its state under the engine's lock. */
final class StateStats implements EngineStats {
    private final EngineState st;

    StateStats(EngineState st) {
        this.st = st;
    }

    @Override
    public long queuedMessages() {
        synchronized (st.mutex) {
            return st.queuedMessages;
        }
    }

    @Override
    public long queuedBytes() {
        synchronized (st.mutex) {
            return st.queuedBytes;
        }
    }

    @Override
    public long inflightMessages() {
        synchronized (st.mutex) {
            return st.inflightMessages;
        }
    }

    @Override
    public long onlineSessions() {
        synchronized (st.mutex) {
            return st.onlineSessions;
        }
    }

    @Override
    public long offlineSessions() {
        synchronized (st.mutex) {
            return st.sessions.size() - st.onlineSessions;
        }
    }

    @Override
    public long storedBodies() {
        synchronized (st.mutex) {
            return st.refs.storedBodies();
        }
    }

    @Override
    public long retainedMessages() {
        synchronized (st.mutex) {
            return st.retained.size();
        }
    }

    @Override
    public long storeSizeBytes() {
        st.storeLock.readLock().lock();
        try {
            synchronized (st.mutex) {
                if (st.closed) {
                    return 0;
                }
            }
            return st.store.sizeOnDisk();
        } catch (java.io.UncheckedIOException e) {
            return 0;
        } finally {
            st.storeLock.readLock().unlock();
        }
    }
}
