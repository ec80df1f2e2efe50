package io.durablemq.cluster;

import org.apache.ratis.protocol.Message;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations;

/**
 * The leader's own request message: a commit batch's bytes, wrapped without a copy. Ratis keeps the
 * request (and so this object) in the leader's transaction for the entry, so when the leader applies
 * its own entry it writes these bytes to the store instead of copying them out of the log entry
 * again ({@link BatchStateMachine#batchBytes}). The array is never changed after construction: it is
 * a fresh copy of the committer's batch ({@code WriteBatch.data()}).
 */
final class BatchMessage implements Message {
    private final byte[] bytes;
    private final ByteString content;

    BatchMessage(byte[] bytes) {
        this.bytes = bytes;
        this.content = UnsafeByteOperations.unsafeWrap(bytes);
    }

    /** The batch's bytes (shared, not copied: callers must not change them). */
    byte[] bytes() {
        return bytes;
    }

    @Override
    public ByteString getContent() {
        return content;
    }

    @Override
    public String toString() {
        return "batch of " + bytes.length + " bytes";
    }
}
