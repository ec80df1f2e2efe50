package io.durablemq.cluster;

import java.time.Duration;

/**
 * Takes the times of one takeover's stages ({@link Takeover}). Ratis's threads mark the election
 * and the leader-ready moment; the role loop marks the rest. A stage whose start was not seen (a
 * leader-ready notice lost in a race with a step-down) counts from the previous mark, so a stage
 * is never negative and the total is still elected-to-serving.
 */
final class TakeoverClock {
    private volatile long electedNanos = -1;
    private volatile long leaderReadyNanos = -1;
    private long promotingNanos = -1;
    private long engineOpenNanos = -1;

    /** Ratis made this node leader (StateMachine.notifyLeaderChanged naming itself). */
    void elected() {
        electedNanos = System.nanoTime();
        leaderReadyNanos = -1;
    }

    /** Ratis committed the term's first entry (StateMachine.notifyLeaderReady). */
    void leaderReady() {
        leaderReadyNanos = System.nanoTime();
    }

    /** The role loop begins to promote (role-loop thread only, as the two below). */
    void promoting() {
        promotingNanos = System.nanoTime();
        engineOpenNanos = -1;
    }

    /** The service's engine is open (the service says so, from inside its start). */
    void engineOpen() {
        engineOpenNanos = System.nanoTime();
    }

    /** Serving: the takeover's stages. */
    Takeover serving(long term) {
        long now = System.nanoTime();
        long promoting = promotingNanos < 0 ? now : promotingNanos;
        long elected = electedNanos < 0 || electedNanos > promoting ? promoting : electedNanos;
        long ready = leaderReadyNanos < elected || leaderReadyNanos > promoting ? elected : leaderReadyNanos;
        long engine = engineOpenNanos < promoting ? promoting : engineOpenNanos;
        return new Takeover(term, Duration.ofNanos(ready - elected), Duration.ofNanos(promoting - ready),
                Duration.ofNanos(engine - promoting), Duration.ofNanos(now - engine));
    }
}
