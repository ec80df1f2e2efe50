package io.durablemq.engine;

import io.durablemq.engine.message.Message;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.OperationLock;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.TopicFilter;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The broker's retained messages, one per topic, in memory and in the {@code retained} column,
 * with their own lock (engine/README.md, "The partitioned engine: design", step 3). A retaining
 * publish ({@link #retain}) and a subscribe reading them for its new subscription
 * ({@link #matching}) take the lock for their operation and hold it until the operation's writes
 * are appended (strict two-phase locking, {@link OperationLock}): so two publishes that set or
 * clear one topic are appended in the order they changed the map, and the store ends with the
 * value the map holds; and a subscribe queues exactly the retained messages of the moment its
 * operation is appended. The map itself is concurrent only so that {@link #size()} (statistics)
 * needs no lock.
 */
final class RetainedMessages {
    private final Map<String, Message> byTopic = new ConcurrentHashMap<>();
    private final OperationLock lock = new OperationLock("retained messages", OperationLock.Rank.RETAINED);

    /**
     * Inside an operation: {@code message} (its RETAIN flag set) becomes its topic's retained
     * message, or an empty payload clears the topic; the {@code retained} record changes in the
     * same operation. {@code encoded}: the message's stored form (null for a clear).
     */
    void retain(Message message, byte[] encoded, Committer committer) {
        lock.holdFor(committer);
        byte[] key = Keys.retained(message.topic());
        if (message.payload().length == 0) {
            if (byTopic.remove(message.topic()) != null) {
                committer.delete(StoreColumn.RETAINED, key);
            }
        } else {
            byTopic.put(message.topic(), message);
            committer.put(StoreColumn.RETAINED, key, encoded);
        }
    }

    /** Inside an operation: the retained messages {@code filter} matches that have not expired by {@code now}. */
    List<Message> matching(String filter, long now, Committer committer) {
        lock.holdFor(committer);
        List<Message> out = new ArrayList<>();
        for (Message m : byTopic.values()) {
            if (TopicFilter.matches(filter, m.topic()) && !m.isExpired(now)) {
                out.add(m);
            }
        }
        return out;
    }

    /** Takes the lock for the calling thread's operation until its append, before it needs it (see EngineState). */
    void holdFor(Committer committer) {
        lock.holdFor(committer);
    }

    /** Recovery (which runs with every operation kept out): one retained message read from the store. */
    void recovered(Message m) {
        byTopic.put(m.topic(), m);
    }

    /** The reset (every operation kept out): forgets them all; recovery reads them again. */
    void clear() {
        byTopic.clear();
    }

    int size() {
        return byTopic.size();
    }

    /** The retained message of {@code topic}, or null (tests). */
    Message get(String topic) {
        return byTopic.get(topic);
    }
}
