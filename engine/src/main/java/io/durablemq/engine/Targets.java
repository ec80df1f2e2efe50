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
 * per shared-subscription group. Called under the engine's lock.
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

    /** Matching sessions, one target per session however many of its subscriptions match. */
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
                EngineSession chosen = chooseSharedMember(group, sessions);
                if (chosen != null) {
                    out.computeIfAbsent(chosen, Target::new).add(group.members().get(chosen.clientId));
                }
            }
        });
        return out;
    }

    /**
     * One member per message, round robin, preferring members that can take it now, then
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
