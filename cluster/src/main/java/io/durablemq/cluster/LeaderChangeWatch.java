package io.durablemq.cluster;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the leader changes this node sees: each time Ratis names a leader (another node, or the
 * same node in a new term) different from the last one named. The first leader a node learns of
 * after it starts is not a change; periods without a leader are not counted, only who comes next.
 */
final class LeaderChangeWatch {
    private final AtomicLong changes = new AtomicLong();
    private String leader;
    private long term = -1;

    /** Called with every status the role loop reads (one thread). */
    void observe(RaftStatus s) {
        if (s.leaderId() == null) {
            return;
        }
        if (leader != null && (!Objects.equals(leader, s.leaderId()) || s.term() != term)) {
            changes.incrementAndGet();
        }
        leader = s.leaderId();
        term = s.term();
    }

    long changes() {
        return changes.get();
    }
}
