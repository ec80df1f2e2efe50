package io.durablemq.broker.protocol;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The topic aliases the broker has told one client about (MQTT 5 section 3.3.2.3.4, server to
 * client direction): at most {@code maximum} topics, numbered 1..maximum, living as long as the
 * network connection. Separate from {@link TopicAliases}, which resolves the client's aliases.
 *
 * <p>Eviction is least recently used over the alias slots. Why LRU rather than "assign while
 * free, then keep the first topics": subscribers' traffic has locality that moves (a device's
 * burst, a dashboard switching views), and a frozen table would keep the topics of a burst long
 * gone. The cost of a wrong guess is bounded: a miss sends the same packet the broker would send
 * without aliases plus 3 bytes (the Topic Alias property), and the client keeps at most its own
 * maximum of strings. Its known weakness, many one-off topics flushing out a hot one, costs the
 * same 3 bytes per packet and nothing else. Not thread safe: used on the channel's event loop.
 */
final class OutboundTopicAliases {
    /** A topic's alias and whether the client already knows it ({@code known}) or must be told now. */
    record Assignment(int alias, boolean known, String evictedTopic) {
    }

    private final int maximum;
    /** Topic to alias, least recently used first (access order). */
    private final LinkedHashMap<String, Integer> byTopic = new LinkedHashMap<>(16, 0.75f, true);
    /** Aliases given back after a failed write, handed out before new numbers. */
    private final ArrayDeque<Integer> released = new ArrayDeque<>();
    private int nextUnused = 1;

    OutboundTopicAliases(int maximum) {
        if (maximum < 1 || maximum > 65_535) {
            throw new IllegalArgumentException("topic alias maximum must be 1..65535: " + maximum);
        }
        this.maximum = maximum;
    }

    int maximum() {
        return maximum;
    }

    /**
     * What sending {@code topic} would use, without changing the table: its known alias, else a
     * free alias, else the least recently used topic's alias. Call {@link #assign} once the
     * packet is known to fit; a known alias is marked as just used.
     */
    Assignment peek(String topic) {
        Integer known = byTopic.get(topic); // access order: marks the topic as just used
        if (known != null) {
            return new Assignment(known, true, null);
        }
        if (!released.isEmpty()) {
            return new Assignment(released.peekFirst(), false, null);
        }
        if (nextUnused <= maximum) {
            return new Assignment(nextUnused, false, null);
        }
        Map.Entry<String, Integer> eldest = byTopic.entrySet().iterator().next();
        return new Assignment(eldest.getValue(), false, eldest.getKey());
    }

    /** Records a new assignment returned by {@link #peek} (the packet carrying topic and alias is being sent). */
    void assign(String topic, Assignment a) {
        if (a.known()) {
            return;
        }
        if (a.evictedTopic() != null) {
            byTopic.remove(a.evictedTopic());
        } else if (!released.isEmpty() && released.peekFirst() == a.alias()) {
            released.pollFirst();
        } else if (a.alias() == nextUnused) {
            nextUnused++;
        } else {
            throw new IllegalStateException("alias " + a.alias() + " for " + topic + " was not peeked last");
        }
        byTopic.put(topic, a.alias());
    }

    /**
     * The packet that would have told the client about {@code alias} was not written: forget it,
     * so the client is never sent an alias it does not know.
     */
    void forget(String topic, int alias) {
        Integer current = byTopic.get(topic);
        if (current != null && current == alias) {
            byTopic.remove(topic);
            released.addLast(alias);
        }
    }

    int size() {
        return byTopic.size();
    }
}
