package io.durablemq.engine.topic;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A trie of topic filters, level by level, so a PUBLISH is matched in time proportional to
 * its topic's depth and the matching filters, not to the number of subscriptions.
 *
 * <p>One writer, many readers: {@link #add} and {@link #remove} run under the engine's lock,
 * while {@link #match} may also run outside it, concurrently with a change (the engine matches
 * a publish before it takes the lock: engine/README.md, "Towards partitions"). The trie's maps
 * are concurrent so such a read never fails, but it may see a change half made; a reader that
 * needs an exact answer reads {@link #version()} before matching and, under the writer's lock,
 * uses its result only if the version is still the same (every change bumps it after it is
 * complete). One writer at a time: the engine's writer lock ({@code EngineState.indexWriter}).
 * A shared group's members and cursor are read only under the group's own monitor
 * ({@link SharedGroup}).
 */
public final class SubscriptionIndex {

    /** Receives every subscription a topic matches. */
    public interface Visitor {
        void subscriber(String clientId, SubscriptionOptions options);

        void sharedGroup(SharedGroup group);
    }

    /**
     * Members of one {@code $share/group/filter}, in subscription order, with a round-robin cursor.
     * Guarded by the group's own monitor (engine/README.md, "The partitioned engine: design",
     * step 3): the index's writer changes the members under it, and a publish chooses a member
     * (members and cursor) under it, so a choice never sees the members half changed and two
     * publishes never take one cursor value, whatever other lock they hold.
     */
    public static final class SharedGroup {
        private final String name;
        private final LinkedHashMap<String, SubscriptionOptions> members = new LinkedHashMap<>();
        private int cursor;

        SharedGroup(String name) {
            this.name = name;
        }

        public String name() {
            return name;
        }

        /** Hold the group's monitor while reading it. */
        public Map<String, SubscriptionOptions> members() {
            return members;
        }

        /** Hold the group's monitor. Advances and returns the round-robin cursor. */
        public int nextCursor() {
            return cursor++ & Integer.MAX_VALUE;
        }
    }

    private static final class Node {
        final Map<String, Node> children = new ConcurrentHashMap<>(4);
        final Map<String, SubscriptionOptions> subscribers = new ConcurrentHashMap<>(4);
        final Map<String, SharedGroup> shared = new ConcurrentHashMap<>(2);

        boolean isEmpty() {
            return children.isEmpty() && subscribers.isEmpty() && shared.isEmpty();
        }
    }

    private final Node root = new Node();
    private int size;
    /** Bumped after every change is complete: a match that read the same value before it saw no change half made. */
    private volatile long version;

    /** The number of changes so far; see the class comment for how a reader outside the writer's lock uses it. */
    public long version() {
        return version;
    }

    /** Adds or replaces; {@code filter} may be a {@code $share/...} filter. */
    public void add(String clientId, String filter, SubscriptionOptions options) {
        SharedFilter shared = TopicFilter.parseShared(filter);
        Node node = root;
        for (String level : (shared == null ? filter : shared.filter()).split("/", -1)) {
            node = node.children.computeIfAbsent(level, l -> new Node());
        }
        SubscriptionOptions previous;
        if (shared == null) {
            previous = node.subscribers.put(clientId, options);
        } else {
            SharedGroup g = node.shared.computeIfAbsent(shared.group(), SharedGroup::new);
            synchronized (g) {
                previous = g.members.put(clientId, options);
            }
        }
        if (previous == null) {
            size++;
        }
        version++; // one writer at a time (the index writer lock): no lost update
    }

    public boolean remove(String clientId, String filter) {
        SharedFilter shared = TopicFilter.parseShared(filter);
        String[] levels = (shared == null ? filter : shared.filter()).split("/", -1);
        boolean removed = remove(root, levels, 0, clientId, shared);
        if (removed) {
            size--;
        }
        version++; // after the change, even a failed remove (it may have pruned nothing, but costs nothing)
        return removed;
    }

    private boolean remove(Node node, String[] levels, int i, String clientId, SharedFilter shared) {
        if (i == levels.length) {
            if (shared == null) {
                return node.subscribers.remove(clientId) != null;
            }
            SharedGroup g = node.shared.get(shared.group());
            if (g == null) {
                return false;
            }
            synchronized (g) {
                if (g.members.remove(clientId) == null) {
                    return false;
                }
                if (g.members.isEmpty()) {
                    node.shared.remove(shared.group());
                }
            }
            return true;
        }
        Node child = node.children.get(levels[i]);
        if (child == null) {
            return false;
        }
        boolean removed = remove(child, levels, i + 1, clientId, shared);
        if (removed && child.isEmpty()) {
            node.children.remove(levels[i]);
        }
        return removed;
    }

    public int size() {
        return size;
    }

    /** Visits every subscription matching the concrete {@code topic}. */
    public void match(String topic, Visitor visitor) {
        String[] levels = topic.split("/", -1);
        match(root, levels, 0, visitor, topic.startsWith("$"));
    }

    private void match(Node node, String[] levels, int i, Visitor v, boolean systemTopic) {
        if (i == levels.length) {
            visit(node, v);
            Node hash = node.children.get("#");
            if (hash != null) {
                visit(hash, v); // "a/#" also matches "a"
            }
            return;
        }
        // Topics starting with '$' are not matched by a leading wildcard (MQTT 4.7.2).
        boolean wildcardsAllowed = !(i == 0 && systemTopic);
        if (wildcardsAllowed) {
            Node hash = node.children.get("#");
            if (hash != null) {
                visit(hash, v);
            }
            Node plus = node.children.get("+");
            if (plus != null) {
                match(plus, levels, i + 1, v, systemTopic);
            }
        }
        Node exact = node.children.get(levels[i]);
        if (exact != null) {
            match(exact, levels, i + 1, v, systemTopic);
        }
    }

    private static void visit(Node node, Visitor v) {
        node.subscribers.forEach(v::subscriber);
        for (SharedGroup g : node.shared.values()) {
            v.sharedGroup(g);
        }
    }
}
