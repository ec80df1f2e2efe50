package io.durablemq.engine.repair;

/** Why repair did not carry a readable record into the repaired store. */
public enum DropReason {
    NO_SESSION("records of sessions that do not exist"),
    BODY_MISSING("queue and in-flight entries whose message body is gone"),
    ORPHAN_BODY("message bodies no remaining entry references (their entries were lost)"),
    DUPLICATE_INFLIGHT("in-flight entries with a duplicate send order"),
    UNDECODABLE("records that do not decode");

    private final String label;

    DropReason(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
