package io.durablemq.engine.session;

import io.durablemq.engine.delivery.OutboundPublish;

/**
 * The connection side of a session: the engine calls it, in order, once what it announces is
 * durable. Calls come from engine threads (usually the committer), never concurrently for one
 * session; implementations hand the work to their own I/O thread and return at once.
 */
public interface SessionListener {

    /** Send a PUBLISH (a first delivery, or a resend with DUP set). */
    void onPublish(OutboundPublish publish);

    /** Send a PUBREL for an outbound QoS 2 message (after its PUBREC is durable, or on resume). */
    void onPubrel(int packetId);

    /**
     * The session no longer belongs to this connection: another connection took it over, it
     * was discarded, or the engine reset to its last durable state after a failed write.
     * Close the connection; the handle's operations now fail.
     */
    void onSessionClosed(CloseReason reason);

    enum CloseReason { TAKEN_OVER, ENGINE_RESET, ENGINE_CLOSED }
}
