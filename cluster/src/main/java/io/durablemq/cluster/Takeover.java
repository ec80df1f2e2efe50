package io.durablemq.cluster;

import java.time.Duration;

/**
 * How long one takeover took on the node that became the serving leader, stage by stage, from the
 * moment Ratis made it leader (it cannot know when the old leader died: that part, the election
 * timeout, is measured by the clients; docs/CLUSTER.md, "Failover time").
 *
 * @param term        the Raft term it serves
 * @param leaderReady elected until Ratis committed the term's first entry (one replication round trip, fsync on a majority)
 * @param applied     until the role loop saw every log entry applied and began to promote
 * @param engineOpen  the engine's recovery on the handed-over store (the broker's listeners not yet bound)
 * @param listening   the rest of the service's start: the redirector lets go of the ports, the listeners bind
 */
public record Takeover(long term, Duration leaderReady, Duration applied, Duration engineOpen, Duration listening) {
    /** Elected until serving clients. */
    public Duration total() {
        return leaderReady.plus(applied).plus(engineOpen).plus(listening);
    }

    @Override
    public String toString() {
        return "term " + term + ": elected -> leader ready " + leaderReady.toMillis() + " ms, -> all applied "
                + applied.toMillis() + " ms, -> engine open " + engineOpen.toMillis() + " ms, -> listening "
                + listening.toMillis() + " ms; serving " + total().toMillis() + " ms after the election";
    }
}
