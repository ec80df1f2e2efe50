package io.durablemq.engine;

import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.OperationLock;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionCodec;
import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;

/**
 * The subscription index's one writer at a time (engine/README.md, "The partitioned engine:
 * design", step 3). Subscribe, unsubscribe and discard take its lock for their operation and hold
 * it until the operation's writes are appended (strict two-phase locking, {@link OperationLock}):
 * so changes to one subscription reach the index and the {@code subscriptions} records in the same
 * order, and the index (one writer: its size and version are plain counters) never has two
 * writers. Readers (a publish's walk, {@link Targets}) never take it.
 */
final class IndexWriter {
    private final OperationLock lock = new OperationLock("subscription index writer", OperationLock.Rank.INDEX_WRITER);

    /**
     * Inside an operation that will change the index: takes the lock until its append. Taken
     * first by an operation that may route a will before it changes the index (the will's
     * routing takes the retained and count locks, which come after this one in the lock order).
     */
    void changeStarts(Committer committer) {
        lock.holdFor(committer);
    }

    /** Inside an operation: adds (or replaces) a subscription in the index and its record in the batch. */
    void subscribe(SubscriptionIndex index, String clientId, byte[] sessionKey, String filter, SubscriptionOptions options,
                   Committer committer) {
        lock.holdFor(committer);
        index.add(clientId, filter, options);
        committer.put(StoreColumn.SUBSCRIPTIONS, Keys.subscription(sessionKey, filter), SubscriptionCodec.encode(options));
    }

    /** Inside an operation: removes a subscription the session has from the index and its record. */
    void unsubscribe(SubscriptionIndex index, String clientId, byte[] sessionKey, String filter, Committer committer) {
        lock.holdFor(committer);
        index.remove(clientId, filter);
        committer.delete(StoreColumn.SUBSCRIPTIONS, Keys.subscription(sessionKey, filter));
    }
}
