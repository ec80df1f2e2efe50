package io.durablemq.engine;

import io.durablemq.engine.message.Message;

/**
 * A publish's partition locks (engine/README.md, "The partitioned engine: design", "A publish from
 * partition A routed to sessions in B and C"): the partitions of the targets the index walk found,
 * with the publisher's, locked ascending; re-checked under them against the index as it is now;
 * released and retried when a target now falls in a partition not held; every partition after
 * {@link PartitionLocks#ATTEMPTS} attempts. A shared group, or no walk at all, takes every
 * partition: its member is chosen under the locks, so any member's partition may be needed.
 */
final class PublishLocks {
    private final EngineState st;

    PublishLocks(EngineState st) {
        this.st = st;
    }

    /** The locks a publish holds, and its walk as re-checked under them (routing uses it if the index has not moved since). */
    record Locked(PartitionLocks.Held held, PreparedPublish prepared) implements AutoCloseable {
        @Override
        public void close() {
            held.close();
        }
    }

    /** {@code base}: the partitions always taken (the publisher's). */
    Locked lock(long base, PreparedPublish prepared, Message message) {
        Partitions parts = st.partitions;
        if (parts.count() == 1) {
            return new Locked(parts.lockAll(), prepared); // one partition: the engine's one lock, as before partitions
        }
        Targets.Prematch[] walk = {prepared.targets()};
        int[] attempt = {0};
        PartitionLocks.Held held = parts.locks.lockForPublish(base,
                () -> {
                    if (attempt[0]++ > 0) { // the first attempt uses the walk made before the lock
                        walk[0] = walkNow(message);
                    }
                    return partitionsOf(walk[0]);
                },
                () -> {
                    Targets.Prematch p = walk[0];
                    if (p == null || p.index() != st.index || p.version() != p.index().version()) {
                        p = walkNow(message); // the index moved: who is a target now
                        walk[0] = p;
                    }
                    return partitionsOf(p);
                });
        return new Locked(held, new PreparedPublish(walk[0], prepared.encodedBody()));
    }

    /** A walk of the index now; null (every partition) if it throws: a throw here would leave partitions locked. */
    private Targets.Prematch walkNow(Message message) {
        try {
            return Targets.prematch(st.index, message.topic());
        } catch (RuntimeException e) {
            return null; // routing under the locks walks again and handles the failure as an operation's
        }
    }

    private long partitionsOf(Targets.Prematch p) {
        PartitionLocks locks = st.partitions.locks;
        if (p == null || p.sharedGroups()) {
            return locks.all();
        }
        long set = 0;
        for (Targets.Matched m : p.plain()) {
            set |= PartitionLocks.bit(locks.partitionOf(m.clientId()));
        }
        return set;
    }
}
