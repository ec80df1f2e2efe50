package io.durablemq.broker.protocol;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The topic aliases the broker has told one client about (MQTT 5 section 3.3.2.3.4, server to
 * client direction): at most {@code maximum} topics, numbered 1..maximum, living as long as the
 * network connection. Separate from {@link TopicAliases}, which resolves the client's aliases.
 *
 * <p>Policy: assign while free, then keep the hottest. Once every alias is taken, a topic gets
 * one only if it was seen at least twice recently and more often than the coldest aliased topic,
 * which gives up its alias (least recently used first among equals); otherwise the PUBLISH goes
 * out with its topic and no alias. Use counts are halved every {@code 8 * maximum} publishes, so
 * topics that were hot an hour ago cool down and a new hot set moves in.
 *
 * <p>Why not plain LRU: the usual subscriber of many devices ({@code devices/+/telemetry}) sees
 * its topics in a cycle longer than the table. LRU would then reassign an alias on every packet,
 * each 3 bytes larger than without aliases (the Topic Alias property) and none ever reused
 * (100 topics x 20 rounds, 32 aliases: 75,800 bytes with LRU, 69,800 without aliases, 59,750 with
 * this policy; OutboundTopicAliasHandlerTest). Here
 * such a cycle leaves the table alone (no topic is seen twice within the candidate window), while
 * topics that repeat win aliases quickly. A topic that is evicted and comes back only costs one
 * more topic + alias packet. Memory: at most {@code maximum} aliased topics plus {@code maximum}
 * (at least 16) candidates, references to strings the messages hold anyway.
 *
 * <p>Finding the coldest topic scans the table; it is done only for a topic seen twice without
 * an alias, and with the default of 32 aliases costs nothing. Not thread safe: used on the
 * channel's event loop.
 */
final class OutboundTopicAliases {
    /**
     * What a PUBLISH on a topic should carry: the alias, and whether the client already knows it
     * ({@code known}: send an empty topic) or is told now (send the topic too), taking it from
     * {@code evictedTopic} when not null.
     */
    record Assignment(int alias, boolean known, String evictedTopic) {
    }

    /** A topic's alias and how often it was used lately. */
    private static final class Slot {
        final int alias;
        int uses;

        Slot(int alias, int uses) {
            this.alias = alias;
            this.uses = uses;
        }
    }

    /** Uses a topic needs before it may take an alias from another topic. */
    static final int ADMISSION_USES = 2;

    private final int maximum;
    private final int agingPeriod;
    /** Aliased topics, least recently used first (access order). */
    private final LinkedHashMap<String, Slot> byTopic = new LinkedHashMap<>(16, 0.75f, true);
    /** Recent topics without an alias and their use counts, bounded, least recently used dropped. */
    private final LinkedHashMap<String, Integer> candidates;
    /** Aliases given back after a failed write, handed out before new numbers. */
    private final ArrayDeque<Integer> released = new ArrayDeque<>();
    private int nextUnused = 1;
    private long usesSinceAging;

    OutboundTopicAliases(int maximum) {
        if (maximum < 1 || maximum > 65_535) {
            throw new IllegalArgumentException("topic alias maximum must be 1..65535: " + maximum);
        }
        this.maximum = maximum;
        this.agingPeriod = 8 * maximum;
        int candidateCapacity = Math.max(16, maximum);
        this.candidates = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Integer> eldest) {
                return size() > candidateCapacity;
            }
        };
    }

    /**
     * Records one PUBLISH on {@code topic} and says what it should carry: its known alias, a free
     * alias, an alias taken from a colder topic, or null (send the topic alone). A new alias is
     * only recorded by {@link #assign}, once the packet is known to fit.
     */
    Assignment lookup(String topic) {
        if (++usesSinceAging >= agingPeriod) {
            age();
        }
        Slot known = byTopic.get(topic); // access order: marks the topic as just used
        if (known != null) {
            known.uses++;
            return new Assignment(known.alias, true, null);
        }
        if (!released.isEmpty()) {
            return new Assignment(released.peekFirst(), false, null);
        }
        if (nextUnused <= maximum) {
            return new Assignment(nextUnused, false, null);
        }
        int uses = candidates.merge(topic, 1, Integer::sum);
        if (uses < ADMISSION_USES) {
            return null;
        }
        Map.Entry<String, Slot> coldest = null;
        for (Map.Entry<String, Slot> e : byTopic.entrySet()) { // least recently used first
            if (coldest == null || e.getValue().uses < coldest.getValue().uses) {
                coldest = e;
            }
        }
        if (uses <= coldest.getValue().uses) {
            return null;
        }
        return new Assignment(coldest.getValue().alias, false, coldest.getKey());
    }

    /** Records a new assignment returned by {@link #lookup} (the packet carrying topic and alias is being sent). */
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
            throw new IllegalStateException("alias " + a.alias() + " for " + topic + " was not looked up last");
        }
        Integer seen = candidates.remove(topic);
        byTopic.put(topic, new Slot(a.alias(), seen == null ? 1 : seen));
    }

    /**
     * The packet that would have told the client about {@code alias} was not written: forget it,
     * so the client is never sent an alias it does not know.
     */
    void forget(String topic, int alias) {
        Slot current = byTopic.get(topic);
        if (current != null && current.alias == alias) {
            byTopic.remove(topic);
            released.addLast(alias);
        }
    }

    int size() {
        return byTopic.size();
    }

    /** Halves every use count, so the table follows what is hot now. */
    private void age() {
        usesSinceAging = 0;
        for (Slot s : byTopic.values()) {
            s.uses /= 2;
        }
        for (Iterator<Map.Entry<String, Integer>> it = candidates.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Integer> e = it.next();
            if (e.getValue() < 2) {
                it.remove();
            } else {
                e.setValue(e.getValue() / 2);
            }
        }
    }
}
