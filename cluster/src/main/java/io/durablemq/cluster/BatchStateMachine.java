package io.durablemq.cluster;

import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;

import java.util.concurrent.CompletableFuture;

/**
 * The Raft state machine: a log entry is one engine commit batch (the bytes of a RocksDB
 * {@code WriteBatch}), and applying it is writing that batch to this node's store. Deterministic:
 * every node applies the same bytes in the same order.
 *
 * <p>Replaying entries that are already in the store is harmless: a batch is a list of puts,
 * deletes and range deletes of whole keys, so applying a suffix of the log again, in order, to a
 * store that holds a prefix of it ends in the same state. That is why the applied index need not
 * be stored atomically with the batch: after a restart Ratis replays from its last snapshot (or
 * from the start when there is none) and the store converges.
 */
final class BatchStateMachine extends BaseStateMachine {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(BatchStateMachine.class);
    private final StoreSlot slot;

    BatchStateMachine(StoreSlot slot) {
        this.slot = slot;
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        try {
            if (!slot.apply(entry.getStateMachineLogEntry().getLogData().toByteArray(), entry.getIndex())) {
                return CompletableFuture.completedFuture(Message.EMPTY); // closing: replayed at the next start
            }
        } catch (Exception e) {
            // Never skip a committed batch: a failed future would only fail the client's reply while Ratis
            // moved on, and this store would silently lack the batch. Thrown here, Ratis stops applying on
            // this node; a restart replays the log from the start.
            log.error("cannot apply committed raft entry {}: this node stops applying (a restart replays the log)",
                    entry.getIndex(), e);
            throw new IllegalStateException("raft entry " + entry.getIndex() + " not applied: " + e, e);
        }
        updateLastAppliedTermIndex(entry.getTerm(), entry.getIndex());
        return CompletableFuture.completedFuture(Message.EMPTY);
    }
}
