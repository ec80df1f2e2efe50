package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.InflightState;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.metrics.StageTimers;
import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreWriteException;
import io.durablemq.engine.topic.SubscribeResult;
import io.durablemq.engine.topic.Subscription;
import io.durablemq.engine.topic.SubscriptionCodec;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.topic.TopicFilter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * One connection's handle on its session ({@link SessionHandle}): valid for the generation of
 * the session it was made for, so a handle of a connection that was taken over or ended fails
 * its calls. Each call is one engine operation under the engine's lock
 * ({@link OperationGuard#guarded}); its listener calls run outside the lock.
 */
final class EngineSessionHandle implements SessionHandle {
    /** Logged as the engine's: operators look for these lines there. */
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    private final EngineState st;
    private final OperationGuard guard;
    private final SessionLifecycle lifecycle;
    private final PublishRouting routing;
    private final SessionDelivery delivery;
    private final WillLifecycle wills;
    private final EngineSession s;
    private final long generation;
    private final boolean present;

    EngineSessionHandle(SessionLifecycle lifecycle, EngineSession s, long generation, boolean present) {
        this.st = lifecycle.st;
        this.guard = lifecycle.guard;
        this.lifecycle = lifecycle;
        this.routing = lifecycle.routing;
        this.delivery = lifecycle.delivery;
        this.wills = lifecycle.wills;
        this.s = s;
        this.generation = generation;
        this.present = present;
    }

    @Override
    public String clientId() {
        return s.clientId;
    }

    @Override
    public boolean sessionPresent() {
        return present;
    }

    /** Must hold mutex. Fails the future and returns false when this connection no longer owns the session. */
    private boolean valid(CompletableFuture<?> future) {
        if (st.closed) {
            future.completeExceptionally(new SessionClosedException(s.clientId, "engine closed"));
            return false;
        }
        if (st.resetting) {
            future.completeExceptionally(new StoreWriteException("the engine is returning to its last durable state", null));
            return false;
        }
        if (s.discarded || s.generation != generation) {
            future.completeExceptionally(new SessionClosedException(s.clientId, "taken over or ended"));
            return false;
        }
        return true;
    }

    @Override
    public void startDelivery() {
        List<Runnable> immediate = new ArrayList<>();
        synchronized (st.mutex) {
            if (st.closed || s.discarded || s.generation != generation || s.deliveryStarted) {
                return;
            }
            s.deliveryStarted = true;
            guard.guarded("start of delivery to '" + s.clientId + "'", null, () -> {
            List<Runnable> sends = new ArrayList<>();
            SessionListener listener = s.listener;
            for (InflightEntry e : s.inflight.values()) {
                if (e.state() == InflightState.PUBLISH_SENT) {
                    SessionDelivery.sendAfterCommit(s, sends, delivery.sendAction(s, e.packetId(), e.messageId(), e.qos(), true,
                            e.retain(), e.subscriptionIds()));
                    st.metrics.redelivered();
                } else {
                    int id = e.packetId();
                    SessionDelivery.sendAfterCommit(s, sends, () -> listener.onPubrel(id));
                }
            }
            delivery.pump(s, sends, immediate);
            delivery.runAfterDurable(sends);
            });
        }
        immediate.forEach(Runnable::run);
    }

    @Override
    public CompletableFuture<PublishResult> publish(int packetId, Message message) {
        CompletableFuture<PublishResult> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        synchronized (st.mutex) {
            if (!valid(future)) {
                return future;
            }
            long routeStart = System.nanoTime();
            guard.guarded("publish of '" + s.clientId + "' to '" + message.topic() + "'", future,
                    () -> routing.route(s, s.clientId, packetId, message, future, immediate));
            if (message.qos() > 0) {
                st.stages.record(StageTimers.Stage.ROUTE, System.nanoTime() - routeStart);
            }
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    @Override
    public CompletableFuture<Void> release(int packetId) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        synchronized (st.mutex) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded("PUBREL " + packetId + " of '" + s.clientId + "'", future, () -> {
            if (s.qos2Received.remove(packetId)) {
                st.committer.delete(StoreColumn.QOS2_RECEIVED, Keys.packet(s.key, packetId));
            }
            guard.complete(future, null);
            });
        }
        return future;
    }

    @Override
    public CompletableFuture<SubscribeResult> subscribe(List<Subscription> subscriptions) {
        CompletableFuture<SubscribeResult> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        synchronized (st.mutex) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded("subscribe of '" + s.clientId + "'", future, () -> {
            List<Integer> granted = new ArrayList<>(subscriptions.size());
            long now = System.currentTimeMillis();
            for (Subscription sub : subscriptions) {
                if (!TopicFilter.isValidFilter(sub.filter())) {
                    granted.add(SubscribeResult.REJECTED);
                    continue;
                }
                SubscriptionOptions o = sub.options();
                if (!s.subscriptions.containsKey(sub.filter())
                        && s.subscriptions.size() >= st.config.maxSubscriptionsPerSession()) {
                    log.warn("client '{}' is at its limit of {} subscriptions: refused '{}'",
                            s.clientId, st.config.maxSubscriptionsPerSession(), sub.filter());
                    granted.add(SubscribeResult.QUOTA_EXCEEDED);
                    continue;
                }
                boolean existed = s.subscriptions.put(sub.filter(), o) != null;
                st.index.add(s.clientId, sub.filter(), o);
                st.committer.put(StoreColumn.SUBSCRIPTIONS, Keys.subscription(s.key, sub.filter()),
                        SubscriptionCodec.encode(o));
                granted.add(o.maxQos());
                boolean shared = TopicFilter.parseShared(sub.filter()) != null;
                if (!shared && (o.retainHandling() == 0 || (o.retainHandling() == 1 && !existed))) {
                    routing.queueRetained(s, sub.filter(), o, now);
                }
            }
            st.unwrittenMarks.registerOn(st.committer);
            guard.complete(future, new SubscribeResult(granted));
            List<Runnable> sends = new ArrayList<>();
            delivery.pump(s, sends, immediate);
            delivery.runAfterDurable(sends);
            });
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    @Override
    public CompletableFuture<List<Boolean>> unsubscribe(List<String> filters) {
        CompletableFuture<List<Boolean>> future = new CompletableFuture<>();
        synchronized (st.mutex) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded("unsubscribe of '" + s.clientId + "'", future, () -> {
            List<Boolean> existed = new ArrayList<>(filters.size());
            for (String f : filters) {
                boolean had = s.subscriptions.remove(f) != null;
                if (had) {
                    st.index.remove(s.clientId, f);
                    st.committer.delete(StoreColumn.SUBSCRIPTIONS, Keys.subscription(s.key, f));
                }
                existed.add(had);
            }
            guard.complete(future, existed);
            });
        }
        return future;
    }

    @Override
    public CompletableFuture<Void> puback(int packetId) {
        return acknowledge(packetId, InflightState.Ack.PUBACK);
    }

    @Override
    public CompletableFuture<Void> pubrec(int packetId) {
        return acknowledge(packetId, InflightState.Ack.PUBREC);
    }

    @Override
    public CompletableFuture<Void> pubcomp(int packetId) {
        return acknowledge(packetId, InflightState.Ack.PUBCOMP);
    }

    private CompletableFuture<Void> acknowledge(int packetId, InflightState.Ack ack) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        synchronized (st.mutex) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded(() -> ack + " " + packetId + " of '" + s.clientId + "'", future, () -> {
            List<Runnable> sends = new ArrayList<>();
            InflightEntry e = s.inflight.get(packetId);
            InflightState.Step step = e == null ? InflightState.Step.IGNORE : e.state().on(ack, e.qos());
            SessionListener listener = s.listener;
            switch (step) {
                case COMPLETE -> {
                    finishInflight(e);
                    st.metrics.acknowledged(e.qos(), System.currentTimeMillis() - e.enqueuedAtMillis());
                    delivery.pump(s, sends, immediate);
                }
                case TO_PUBREL_SENT -> {
                    InflightEntry released = e.released();
                    s.inflight.put(packetId, released);
                    st.committer.put(StoreColumn.INFLIGHT, Keys.packet(s.key, packetId), released.encodeValue());
                    st.releaseBody(e.messageId(), e.soleReference());
                    SessionDelivery.sendAfterCommit(s, sends, () -> listener.onPubrel(packetId));
                }
                case RESEND_PUBREL -> SessionDelivery.sendAfterCommit(s, sends, () -> listener.onPubrel(packetId));
                case IGNORE -> log.debug("client '{}' sent {} for packet id {} in state {}: ignored",
                        s.clientId, ack, packetId, e == null ? "none" : e.state());
            }
            delivery.runAfterDurable(sends);
            guard.complete(future, null);
            });
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    private void finishInflight(InflightEntry e) {
        s.inflight.remove(e.packetId());
        st.inflightMessages--;
        st.committer.delete(StoreColumn.INFLIGHT, Keys.packet(s.key, e.packetId()));
        if (e.messageId() != 0) {
            st.releaseBody(e.messageId(), e.soleReference());
        }
    }

    @Override
    public CompletableFuture<Void> discard(int packetId, String reason) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        synchronized (st.mutex) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded("discard of " + packetId + " for '" + s.clientId + "'", future, () -> {
            InflightEntry e = s.inflight.get(packetId);
            if (e != null) {
                finishInflight(e);
                st.metrics.dropped(reason);
                List<Runnable> sends = new ArrayList<>();
                delivery.pump(s, sends, immediate);
                delivery.runAfterDurable(sends);
            }
            guard.complete(future, null);
            });
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    @Override
    public CompletableFuture<Void> disconnect(long sessionExpirySeconds, io.durablemq.engine.session.WillAtEnd willAtEnd) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        synchronized (st.mutex) {
            if (st.closed || s.discarded || s.generation != generation) {
                future.complete(null); // taken over or already gone: nothing of ours to end
                return future;
            }
            guard.guarded("disconnect of '" + s.clientId + "'", future, () -> {
            lifecycle.goOffline(s, System.currentTimeMillis());
            if (sessionExpirySeconds >= 0) {
                s.expirySeconds = Math.min(sessionExpirySeconds, st.config.maxSessionExpirySeconds());
            }
            wills.settleAtDisconnect(s, willAtEnd, s.disconnectedAtMillis);
            if (s.expirySeconds == 0) {
                lifecycle.discard(s, "session_discarded");
            } else {
                st.committer.putOncePerBatch(StoreColumn.SESSIONS, s.key, s.record().encode()); // once per batch: see Committer
            }
            guard.complete(future, null);
            });
        }
        return future;
    }
}
