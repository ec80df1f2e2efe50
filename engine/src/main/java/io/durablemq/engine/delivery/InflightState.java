package io.durablemq.engine.delivery;

/**
 * The outbound QoS 1/2 handshake of one in-flight message, with every transition here.
 *
 * <pre>
 * QoS 1: PUBLISH_SENT --PUBACK--> (done)
 * QoS 2: PUBLISH_SENT --PUBREC--> PUBREL_SENT --PUBCOMP--> (done)
 * </pre>
 * Anything else (a PUBACK for a QoS 2 message, a PUBCOMP before PUBREC) is a client error
 * the engine ignores rather than corrupting its window.
 */
public enum InflightState {
    PUBLISH_SENT,
    PUBREL_SENT;

    /** What an acknowledgement does to an in-flight message in this state. */
    public enum Step {
        /** The handshake is over: delete the in-flight record and release the body. */
        COMPLETE,
        /** PUBREC: the message is received; keep only the packet id and send PUBREL. */
        TO_PUBREL_SENT,
        /** A repeated PUBREC: PUBREL again. */
        RESEND_PUBREL,
        /** Not valid here: ignore. */
        IGNORE
    }

    public enum Ack { PUBACK, PUBREC, PUBCOMP }

    public Step on(Ack ack, int qos) {
        return switch (this) {
            case PUBLISH_SENT -> switch (ack) {
                case PUBACK -> qos == 1 ? Step.COMPLETE : Step.IGNORE;
                case PUBREC -> qos == 2 ? Step.TO_PUBREL_SENT : Step.IGNORE;
                case PUBCOMP -> Step.IGNORE;
            };
            case PUBREL_SENT -> switch (ack) {
                case PUBACK -> Step.IGNORE;
                case PUBREC -> Step.RESEND_PUBREL;
                case PUBCOMP -> Step.COMPLETE;
            };
        };
    }
}
