package io.durablemq.engine;

import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which sessions a published message goes to, and at what QoS: one target per session
 * however many of its subscriptions match (highest QoS, every subscription identifier,
 * retain-as-published if any asks for it), no-local honoured per subscription, and one member
 * per shared-subscription group. {@link #match} is called under the engine's lock;
 * {@link #prematch} before it, outside the lock, so that a publish's walk of the subscription
 * index is not part of the time it holds the lock (issue 12, target 4).
 */
final class Targets {
    private Targets() {
    }

    /** One delivery target of a publish: a session and what its matching subscriptions make of the message. */
    static final class Target {
        final EngineSession session;
        int maxQos = -1;
        boolean retainAsPublished;
        final List<Integer> subscriptionIds = new ArrayList<>(1);

        Target(EngineSession session) {
            this.session = session;
        }

        void add(SubscriptionOptions o) {
            maxQos = Math.max(maxQos, o.maxQos());
            retainAsPublished |= o.retainAsPublished();
            if (o.subscriptionId() > 0 && !subscriptionIds.contains(o.subscriptionId())) {
                subscriptionIds.add(o.subscriptionId());
            }
        }

        int[] ids() {
            int[] a = new int[subscriptionIds.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = subscriptionIds.get(i);
            }
            return a;
        }
    }

    /** One plain (not shared) subscription a topic matched, by client id. */
    record Matched(String clientId, SubscriptionOptions options) {
    }

    /**
     * The subscriptions a topic matched in {@code index} at {@code version}, read outside the
     * engine's lock. {@code sharedGroups}: the topic also matched a shared group, whose member is
     * chosen only under the lock (cursor and members are the lock's), so the whole match is then
     * done there.
     */
    record Prematch(SubscriptionIndex index, long version, String topic, List<Matched> plain, boolean sharedGroups) {
    }

    /**
     * Walks the index for {@code topic} without the engine's lock (the index allows readers
     * outside it: see {@link SubscriptionIndex}). The result is used under the lock only if the
     * index is still the same one at the same version ({@link #match(Prematch, SubscriptionIndex, Map, String, String)}).
     */
    static Prematch prematch(SubscriptionIndex index, String topic) {
        long version = index.version(); // read before the walk: a change after it bumps the version past this
        List<Matched> plain = new ArrayList<>(2);
        boolean[] shared = new boolean[1];
        index.match(topic, new SubscriptionIndex.Visitor() {
            @Override
            public void subscriber(String clientId, SubscriptionOptions options) {
                plain.add(new Matched(clientId, options));
            }

            @Override
            public void sharedGroup(SubscriptionIndex.SharedGroup group) {
                shared[0] = true; // members and cursor are read under the lock only
            }
        });
        return new Prematch(index, version, topic, plain, shared[0]);
    }

    /**
     * Must hold the engine's lock. The targets of {@code topic}: from {@code pre} when it was
     * taken on this index at its current version for this topic and saw no shared group (nothing
     * changed since, so it is exactly what a walk now would find), otherwise from a walk now.
     */
    static Map<EngineSession, Target> match(Prematch pre, SubscriptionIndex index, Map<String, EngineSession> sessions,
                                            String topic, String originClientId) {
        if (pre == null || pre.sharedGroups() || pre.index() != index || pre.version() != index.version()
                || !pre.topic().equals(topic)) {
            return match(index, sessions, topic, originClientId);
        }
        Map<EngineSession, Target> out = new IdentityHashMap<>();
        for (Matched m : pre.plain()) {
            if (m.options().noLocal() && m.clientId().equals(originClientId)) {
                continue;
            }
            EngineSession s = sessions.get(m.clientId());
            if (s != null) {
                out.computeIfAbsent(s, Target::new).add(m.options());
            }
        }
        return out;
    }

    /** Must hold the engine's lock. Matching sessions, one target per session however many of its subscriptions match. */
    static Map<EngineSession, Target> match(SubscriptionIndex index, Map<String, EngineSession> sessions,
                                            String topic, String originClientId) {
        Map<EngineSession, Target> out = new IdentityHashMap<>();
        index.match(topic, new SubscriptionIndex.Visitor() {
            @Override
            public void subscriber(String clientId, SubscriptionOptions options) {
                if (options.noLocal() && clientId.equals(originClientId)) {
                    return;
                }
                EngineSession s = sessions.get(clientId);
                if (s != null) {
                    out.computeIfAbsent(s, Target::new).add(options);
                }
            }

            @Override
            public void sharedGroup(SubscriptionIndex.SharedGroup group) {
                synchronized (group) { // the group's own lock: members and cursor (SubscriptionIndex.SharedGroup)
                    EngineSession chosen = chooseSharedMember(group, sessions);
                    if (chosen != null) {
                        out.computeIfAbsent(chosen, Target::new).add(group.members().get(chosen.clientId));
                    }
                }
            }
        });
        return out;
    }

    /**
     * Must hold the group's monitor. One member per message, round robin, preferring members that can take it now, then
     * online members, then offline persistent members (whose queue keeps it durably).
     */
    private static EngineSession chooseSharedMember(SubscriptionIndex.SharedGroup group,
                                                    Map<String, EngineSession> sessions) {
        List<EngineSession> members = new ArrayList<>(group.members().size());
        for (String id : group.members().keySet()) {
            EngineSession s = sessions.get(id);
            if (s != null) {
                members.add(s);
            }
        }
        if (members.isEmpty()) {
            return null;
        }
        int start = group.nextCursor();
        EngineSession online = null;
        for (int i = 0; i < members.size(); i++) {
            EngineSession s = members.get((start + i) % members.size());
            if (s.canSendNow() && s.hasWindowSpace() && s.queue.isEmpty()) {
                return s;
            }
            if (online == null && s.isOnline()) {
                online = s;
            }
        }
        return online != null ? online : members.get(start % members.size());
    }

}
