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
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.topic.TopicFilter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
    /** Guarded by the session's partition lock: this connection's in-flight bodies are being read for its resends (startDelivery). */
    private boolean resendBodiesAsked;

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

    /** Must hold the session's partition. Fails the future and returns false when this connection no longer owns the session. */
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
        List<Runnable> immediate;
        try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
            if (st.closed || s.discarded || s.generation != generation || s.deliveryStarted || resendBodiesAsked) {
                return;
            }
            // The in-flight window is resent first, in send order. Its bodies not in memory (after a
            // restart, or ones the cache let go) are read by the read-ahead thread in one sorted
            // MultiGet before anything is sent, so no resend reads the store on the thread that runs
            // it; meanwhile deliveryStarted stays false, so nothing new overtakes the resends.
            List<Long> missing = new ArrayList<>();
            for (InflightEntry e : s.inflight.values()) {
                if (e.state() == InflightState.PUBLISH_SENT && !st.bodies.contains(e.messageId())) {
                    missing.add(e.messageId());
                }
            }
            if (!missing.isEmpty()) {
                resendBodiesAsked = true;
                delivery.readAhead.requestResendBodies(s, s.clientId, missing, this::resendAndPump);
                return;
            }
            immediate = resendAndPump(Map.of());
        }
        immediate.forEach(Runnable::run);
    }

    /** Must hold the session's partition. Resends the in-flight window ({@code bodies} at hand), then pumps the queue; returns what to run outside the lock. */
    private List<Runnable> resendAndPump(Map<Long, Message> bodies) {
        List<Runnable> immediate = new ArrayList<>();
        if (st.closed || s.discarded || s.generation != generation || s.deliveryStarted) {
            return immediate; // ended or taken over meanwhile: the next connection resends
        }
        s.deliveryStarted = true;
        guard.guarded("start of delivery to '" + s.clientId + "'", null, () -> {
        List<Runnable> sends = new ArrayList<>();
        SessionListener listener = s.listener;
        for (InflightEntry e : s.inflight.values()) {
            if (e.state() == InflightState.PUBLISH_SENT) {
                Message body = bodies.containsKey(e.messageId()) ? bodies.get(e.messageId()) : st.bodies.get(e.messageId());
                SessionDelivery.sendAfterCommit(s, sends, delivery.sendAction(s, e.packetId(), e.messageId(), body,
                        e.qos(), true, e.retain(), e.subscriptionIds()));
                st.metrics.redelivered();
            } else {
                int id = e.packetId();
                SessionDelivery.sendAfterCommit(s, sends, () -> listener.onPubrel(id));
            }
        }
        delivery.pump(s, sends, immediate);
        delivery.runAfterDurable(sends);
        });
        return immediate;
    }

    @Override
    public CompletableFuture<PublishResult> publish(int packetId, Message message) {
        CompletableFuture<PublishResult> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        long routeStart = System.nanoTime();
        // The index walk and the body's encoding need no engine state: done before the lock (issue 12, target 4).
        PreparedPublish prepared = PreparedPublish.of(st.index, message);
        // Its own partition and its targets' (PublishLocks: ascending, re-checked, retried, all after 3 attempts).
        try (PublishLocks.Locked locked = lifecycle.publishLocks().lock(
                PartitionLocks.bit(st.partitions.of(s).index), prepared, message)) {
            if (!valid(future)) {
                return future;
            }
            Map<String, EngineSession> visible = st.partitions.visible(locked.held());
            guard.guarded(() -> "publish of '" + s.clientId + "' to '" + message.topic() + "'", future,
                    () -> routing.route(s, s.clientId, packetId, message, locked.prepared(), future, immediate, visible));
        }
        if (message.qos() > 0) { // recorded after the lock: a timer's histogram is not the lock's work
            st.stages.record(StageTimers.Stage.ROUTE, System.nanoTime() - routeStart);
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    @Override
    public CompletableFuture<Void> release(int packetId) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        byte[] key = Keys.packet(s.key, packetId); // built before the lock
        try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded(() -> "PUBREL " + packetId + " of '" + s.clientId + "'", future, () -> {
            if (s.qos2Received.remove(packetId)) {
                st.committer.delete(StoreColumn.QOS2_RECEIVED, key);
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
        try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
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
                st.indexWriter.subscribe(st.index, s.clientId, s.key, sub.filter(), o, st.committer); // its lock first
                granted.add(o.maxQos());
                boolean shared = TopicFilter.parseShared(sub.filter()) != null;
                if (!shared && (o.retainHandling() == 0 || (o.retainHandling() == 1 && !existed))) {
                    routing.queueRetained(s, sub.filter(), o, now);
                }
            }
            st.partitionOf(s).unwrittenMarks.registerOn(st.committer);
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
        try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded("unsubscribe of '" + s.clientId + "'", future, () -> {
            List<Boolean> existed = new ArrayList<>(filters.size());
            for (String f : filters) {
                boolean had = s.subscriptions.remove(f) != null;
                if (had) {
                    st.indexWriter.unsubscribe(st.index, s.clientId, s.key, f, st.committer);
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

    @Override
    public CompletableFuture<Void> pubacks(int[] packetIds, int count) {
        return acknowledge(packetIds, count, InflightState.Ack.PUBACK);
    }

    private CompletableFuture<Void> acknowledge(int packetId, InflightState.Ack ack) {
        return acknowledge(new int[] {packetId}, 1, ack);
    }

    /**
     * The first {@code count} acknowledgements of {@code packetIds}, in order, as one operation: one
     * lock, one batch operation, one completion and, once they are all applied, one refill of the
     * window ({@link SessionDelivery#pump}) for the room they made. A backlog drain reads PUBACKs
     * several at a time; one operation and one pump each cost a lock, an operation scope, a
     * session record and a completion per message (benchmarks/RESULTS.md, "Backlog drain: CPU per
     * message (s22)"). The outcome is that of the acknowledgements one after the other, except
     * that no id freed by one of them is handed out again before the later ones are applied (the
     * refill comes after them all), so a repeated id in the same batch is ignored as unknown.
     */
    private CompletableFuture<Void> acknowledge(int[] packetIds, int count, InflightState.Ack ack) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        byte[][] keys = new byte[count][];
        for (int i = 0; i < count; i++) {
            keys[i] = Keys.packet(s.key, packetIds[i]); // built before the lock
        }
        List<InflightEntry> completed = new ArrayList<>(count); // their metrics are recorded after the lock
        try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded(() -> ack + " " + describe(packetIds, count) + " of '" + s.clientId + "'", future, () -> {
            List<Runnable> sends = new ArrayList<>();
            boolean roomMade = false;
            SessionListener listener = s.listener;
            for (int i = 0; i < count; i++) {
                int packetId = packetIds[i];
                InflightEntry e = s.inflight.get(packetId);
                InflightState.Step step = e == null ? InflightState.Step.IGNORE : e.state().on(ack, e.qos());
                switch (step) {
                    case COMPLETE -> {
                        finishInflight(e, keys[i]);
                        completed.add(e);
                        roomMade = true;
                    }
                    case TO_PUBREL_SENT -> {
                        InflightEntry released = e.released();
                        s.inflight.put(packetId, released);
                        st.committer.put(StoreColumn.INFLIGHT, keys[i], released.encodeValue());
                        st.releaseBody(e.messageId(), e.soleReference());
                        SessionDelivery.sendAfterCommit(s, sends, () -> listener.onPubrel(packetId));
                    }
                    case RESEND_PUBREL -> SessionDelivery.sendAfterCommit(s, sends, () -> listener.onPubrel(packetId));
                    case IGNORE -> log.debug("client '{}' sent {} for packet id {} in state {}: ignored",
                            s.clientId, ack, packetId, e == null ? "none" : e.state());
                }
            }
            if (roomMade) {
                delivery.pump(s, sends, immediate);
            }
            if (sends.isEmpty() && immediate.isEmpty()) {
                // Only slots freed (PUBACK / PUBCOMP), nothing sent nor refilled: nothing waits for it, and lost in a
                // crash the message is resent with DUP or its PUBREL again, both of which the client must accept. So it
                // rides with the next commit instead of taking a turn at the disk. A refill or a PUBREL to send does
                // not wait (a QoS 2 PUBLISH or PUBREL must not go out before its record, nor wait 50 ms for it).
                st.committer.mayWaitForNextCommit();
            }
            delivery.runAfterDurable(sends);
            guard.complete(future, null);
            });
        }
        if (!future.isCompletedExceptionally()) { // an operation rolled back counts nothing
            long now = System.currentTimeMillis();
            for (InflightEntry e : completed) {
                st.metrics.acknowledged(e.qos(), now - e.enqueuedAtMillis());
            }
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    /** Packet ids for an error message, built only when an operation failed. */
    private static String describe(int[] packetIds, int count) {
        return count == 1 ? String.valueOf(packetIds[0])
                : java.util.Arrays.toString(java.util.Arrays.copyOf(packetIds, count));
    }

    /** Must hold the session's partition. {@code key}: the entry's in-flight key, {@code Keys.packet(s.key, e.packetId())}. */
    private void finishInflight(InflightEntry e, byte[] key) {
        s.inflight.remove(e.packetId());
        st.partitionOf(s).inflightMessages--;
        st.committer.delete(StoreColumn.INFLIGHT, key);
        if (e.messageId() != 0) {
            st.releaseBody(e.messageId(), e.soleReference());
        }
    }

    @Override
    public CompletableFuture<Void> discard(int packetId, String reason) {
        CompletableFuture<Void> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
            if (!valid(future)) {
                return future;
            }
            guard.guarded("discard of " + packetId + " for '" + s.clientId + "'", future, () -> {
            InflightEntry e = s.inflight.get(packetId);
            if (e != null) {
                finishInflight(e, Keys.packet(s.key, packetId));
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
        try (PartitionLocks.Held held = lifecycle.lockSessionAndWill(s.clientId)) { // its will may fire: see there
            if (st.closed || s.discarded || s.generation != generation) {
                future.complete(null); // taken over or already gone: nothing of ours to end
                return future;
            }
            guard.guarded("disconnect of '" + s.clientId + "'", future, () -> {
            lifecycle.goOffline(s, System.currentTimeMillis());
            if (sessionExpirySeconds >= 0) {
                s.expirySeconds = Math.min(sessionExpirySeconds, st.config.maxSessionExpirySeconds());
            }
            if (s.expirySeconds == 0) {
                st.indexChangeStarts(); // the discard below changes the index: its lock before the will's routing takes later ones
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
