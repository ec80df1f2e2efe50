package io.durablemq.engine;

import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.topic.SubscriptionIndex;

/**
 * The part of a publish's routing that needs none of the engine's state, done by the
 * publishing thread before it takes the engine's lock (issue 12, target 4: less work under the
 * one lock): the walk of the subscription index ({@link Targets#prematch}, used under the lock
 * only if the index did not change meanwhile) and the body's stored form, which
 * {@link PublishRouting} writes as the {@code messages} record and, for a retained message, the
 * {@code retained} record (both are {@link MessageCodec#encode} of the same message).
 *
 * @param targets     the index walk, or null to walk under the lock
 * @param encodedBody {@code MessageCodec.encode(message)}, or null where no record will hold it (QoS 0, not retained)
 */
record PreparedPublish(Targets.Prematch targets, byte[] encodedBody) {

    /** Nothing prepared: everything is done under the lock (wills, the broker's own publishes). */
    static final PreparedPublish NONE = new PreparedPublish(null, null);

    /** Outside the lock. {@code index}: the engine's current index (it is replaced only by a reset). */
    static PreparedPublish of(SubscriptionIndex index, Message message) {
        try {
            byte[] encoded = message.qos() > 0 || message.retain() ? MessageCodec.encode(message) : null;
            return new PreparedPublish(Targets.prematch(index, message.topic()), encoded);
        } catch (RuntimeException e) {
            // Whatever fails here fails again under the lock, inside the operation, which handles it as it
            // always did (OperationGuard): a publish's failure is reported in one place, whole or not at all.
            return NONE;
        }
    }

    /** The stored form of {@code message}: the prepared one, or encoded now (under the lock). */
    byte[] encoded(Message message) {
        return encodedBody != null ? encodedBody : MessageCodec.encode(message);
    }
}
