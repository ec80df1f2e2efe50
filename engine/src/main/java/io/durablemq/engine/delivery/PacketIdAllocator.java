package io.durablemq.engine.delivery;

import java.util.function.IntPredicate;

/**
 * Packet ids for one session's outbound window: 1..65535, wrapping, skipping ids still in use.
 * Continuing after the last id (rather than reusing the lowest free one) keeps a late
 * acknowledgement of an old id from matching a brand-new message.
 */
public final class PacketIdAllocator {
    private int next = 1;

    /**
     * Recovery: go on after the newest id recovered in flight instead of starting again at 1. Ids
     * used just before a crash then come back only after a wrap, which matters to clients that
     * keep stale QoS 2 state for an id (libmosquitto 2.0 keeps a resent PUBLISH as a second copy
     * and hands it over at the next PUBREL with that id).
     */
    public void continueAfter(int packetId) {
        if (packetId < 1 || packetId > 65_535) {
            throw new IllegalArgumentException("packet id out of range: " + packetId);
        }
        next = packetId == 65_535 ? 1 : packetId + 1;
    }

    /** @param inUse true for ids currently in flight; fewer than 65535 must be in use */
    public int allocate(IntPredicate inUse) {
        for (int tries = 0; tries < 65_535; tries++) {
            int id = next;
            next = next == 65_535 ? 1 : next + 1;
            if (!inUse.test(id)) {
                return id;
            }
        }
        throw new IllegalStateException("all 65535 packet ids are in flight");
    }
}
