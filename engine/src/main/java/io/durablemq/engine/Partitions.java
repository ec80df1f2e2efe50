package io.durablemq.engine;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.locks.Lock;

/**
 * The engine's partitions and their locks (engine/README.md, "The partitioned engine: design").
 * {@link #sessions()} is one map over every partition's sessions (each key looked up in its own
 * partition), so recovery, wills and routing read sessions as before; a caller must hold the
 * partition of each key it reads or changes, and every partition to iterate.
 */
final class Partitions {
    final PartitionLocks locks;
    private final Partition[] parts;
    private final SessionsView sessions = new SessionsView();

    Partitions(int count) {
        this.locks = new PartitionLocks(count);
        this.parts = new Partition[count];
        for (int i = 0; i < count; i++) {
            parts[i] = new Partition(i, locks.lockOf(i));
        }
    }

    int count() {
        return parts.length;
    }

    Partition get(int index) {
        return parts[index];
    }

    Partition of(String clientId) {
        return parts[locks.partitionOf(clientId)];
    }

    Partition of(EngineSession s) {
        return of(s.clientId);
    }

    /** The lock of a client id's partition (the read-ahead thread takes it to apply a page). */
    Lock lockOf(String clientId) {
        return of(clientId).lock;
    }

    /** Locks one client id's partition: an operation on one session. */
    PartitionLocks.Held lockFor(String clientId) {
        return locks.lock(PartitionLocks.bit(locks.partitionOf(clientId)));
    }

    /** Locks every partition, ascending: close, reset, recovery, a whole-image read. */
    PartitionLocks.Held lockAll() {
        return locks.lockAll();
    }

    Map<String, EngineSession> sessions() {
        return sessions;
    }

    /**
     * The sessions of the partitions in {@code held} only: what a publish may route to. A session
     * of another partition (a subscribe that landed after the publish's re-check) reads as absent,
     * so the publish is ordered before that subscribe, and no partition it does not hold is read.
     */
    Map<String, EngineSession> visible(PartitionLocks.Held held) {
        if (held.set == locks.all()) {
            return sessions;
        }
        return new AbstractMap<>() {
            @Override
            public EngineSession get(Object key) {
                if (!(key instanceof String id)) {
                    return null;
                }
                Partition p = of(id);
                return held.holds(p.index) ? p.sessions.get(id) : null;
            }

            @Override
            public Set<Entry<String, EngineSession>> entrySet() {
                throw new UnsupportedOperationException("a publish looks sessions up by client id only");
            }
        };
    }

    // Counter sums, read without locks (each partition's figure is volatile).

    long queuedMessages() {
        return sum(p -> p.queuedMessages);
    }

    long queuedBytes() {
        return sum(p -> p.queuedBytes);
    }

    long inflightMessages() {
        return sum(p -> p.inflightMessages);
    }

    long onlineSessions() {
        return sum(p -> p.onlineSessions);
    }

    private long sum(java.util.function.ToLongFunction<Partition> counter) {
        long n = 0;
        for (Partition p : parts) {
            n += counter.applyAsLong(p);
        }
        return n;
    }

    /** Every partition's sessions as one map: a key is looked up, put and removed in its own partition. */
    private final class SessionsView extends AbstractMap<String, EngineSession> {
        @Override
        public EngineSession get(Object key) {
            return key instanceof String id ? of(id).sessions.get(id) : null;
        }

        @Override
        public boolean containsKey(Object key) {
            return key instanceof String id && of(id).sessions.containsKey(id);
        }

        @Override
        public EngineSession put(String key, EngineSession value) {
            return of(key).sessions.put(key, value);
        }

        @Override
        public EngineSession remove(Object key) {
            return key instanceof String id ? of(id).sessions.remove(id) : null;
        }

        @Override
        public void clear() {
            for (Partition p : parts) {
                p.sessions.clear();
            }
        }

        @Override
        public int size() {
            int n = 0;
            for (Partition p : parts) {
                n += p.sessions.size();
            }
            return n;
        }

        @Override
        public Set<Entry<String, EngineSession>> entrySet() {
            return new AbstractSet<>() {
                @Override
                public Iterator<Entry<String, EngineSession>> iterator() {
                    return new Iterator<>() {
                        private int part;
                        private Iterator<Entry<String, EngineSession>> it = parts[0].sessions.entrySet().iterator();

                        @Override
                        public boolean hasNext() {
                            while (!it.hasNext() && part + 1 < parts.length) {
                                it = parts[++part].sessions.entrySet().iterator();
                            }
                            return it.hasNext();
                        }

                        @Override
                        public Entry<String, EngineSession> next() {
                            if (!hasNext()) {
                                throw new NoSuchElementException();
                            }
                            return it.next();
                        }

                        @Override
                        public void remove() {
                            it.remove();
                        }
                    };
                }

                @Override
                public int size() {
                    return SessionsView.this.size();
                }
            };
        }
    }
}
