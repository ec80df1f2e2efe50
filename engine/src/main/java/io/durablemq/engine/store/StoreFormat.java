package io.durablemq.engine.store;

/**
 * The on-disk format version, stored in the meta column family. Bump {@link #CURRENT} on any
 * change of a key or value layout; a store of a newer version refuses to open.
 */
public final class StoreFormat {
    /**
     * 2: the {@code wills} column family (durable wills), and session records that carry their
     * queue's counters (version-2 session record), written with every queue change. A format-1
     * store is upgraded when the engine opens it: {@code Store.open} creates the missing column
     * family ({@code FormatUpgrade}), then {@code queue.QueueCountersUpgrade} rewrites the session
     * records and writes version 2 last.
     */
    public static final int CURRENT = 2;
    public static final byte[] VERSION_KEY = Keys.utf8("format-version");
    public static final byte[] CREATED_KEY = Keys.utf8("created-at-millis");
    /**
     * Since format 2: {@code i64} how many bodies {@code messages} holds, rewritten in every batch that
     * stores or deletes one, so recovery knows it without a scan ({@code delivery.BodyRefs}).
     */
    public static final byte[] STORED_BODIES_KEY = Keys.utf8("stored-bodies");
    /**
     * {@code i64}: message ids are handed out below this ceiling only; the engine reserves them in
     * blocks and appends the new ceiling at the end of the first batch taken after an id at or above the
     * last one was handed out (the committer's last writes, so a rolled-back operation cannot take it
     * away), so a restart (or a cluster's next leader) never hands out an id an earlier batch used
     * ({@code message.MessageIds}).
     * Older builds ignore it (no format change).
     */
    public static final byte[] MESSAGE_ID_CEILING_KEY = Keys.utf8("message-id-ceiling");
    /**
     * Cluster nodes only: {@code i64 term | i64 index} of the last Raft log entry applied to this store,
     * written in the same {@code WriteBatch} as that entry, so a restarted node skips exactly what its
     * store holds ({@code durablemq-cluster}'s {@code AppliedEntry}). Absent on a single node.
     */
    public static final byte[] RAFT_APPLIED_KEY = Keys.utf8("raft-applied");

    private StoreFormat() {
    }
}
