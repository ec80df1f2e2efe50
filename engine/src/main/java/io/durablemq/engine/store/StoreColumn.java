package io.durablemq.engine.store;

import java.nio.charset.StandardCharsets;

/** The column families of the store, one per record kind. Layouts: engine/README.md. */
public enum StoreColumn {
    META("meta"),
    SESSIONS("sessions"),
    SUBSCRIPTIONS("subscriptions"),
    MESSAGES("messages"),
    QUEUES("queues"),
    INFLIGHT("inflight"),
    QOS2_RECEIVED("qos2-received"),
    RETAINED("retained"),
    /** Since format 2: a session's will ({@code will.WillCodec}). */
    WILLS("wills"),
    /**
     * Since format 2: a body's reference count where it is above 1 ({@code i64 messageId} ->
     * {@code i32 count}); absent means 1 ({@code delivery.BodyRefs}).
     */
    REFCOUNTS("refcounts");

    private final String cfName;

    StoreColumn(String cfName) {
        this.cfName = cfName;
    }

    public String cfName() {
        return cfName;
    }

    public byte[] cfNameBytes() {
        return cfName.getBytes(StandardCharsets.UTF_8);
    }
}
