package io.durablemq.engine;

import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.WillAtEnd;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.will.DueWills;
import io.durablemq.engine.will.StoredWill;
import io.durablemq.engine.will.WillCodec;
import io.durablemq.engine.will.WillGate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The wills of the engine's sessions, from the CONNECT that stores one to the moment it is sent
 * or deleted (engine README, "Wills"). Every change is written to the committer's open batch
 * together with the session change that causes it; every method but the timer's runs under the
 * engine's lock, which the timer takes. The engine calls in at connect, disconnect, session
 * discard, recovery and reset.
 */
final class WillLifecycle implements AutoCloseable {
    /** Will outcomes are logged as the engine's: operators look for them there. */
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    /** Routes a will like a publish, under the engine's lock; its sends run after its batch is durable. */
    @FunctionalInterface
    interface Router {
        void route(String originClientId, Message message, CompletableFuture<PublishResult> result);
    }

    private final DueWills wills = new DueWills();
    /** Locks what a will's routing may touch: every partition (its targets can be in any). */
    private final Supplier<PartitionLocks.Held> lockAll;
    private final Supplier<Committer> committer;
    private final Router router;
    /** False while the engine is closed or resetting: a timer that fires then does nothing. */
    private final BooleanSupplier operating;
    /** The broker's ACL; every will is allowed until {@link #start} names one (engine-only use). */
    private WillGate gate = WillGate.ALLOW_ALL;

    private final OperationScope scope;

    WillLifecycle(Supplier<PartitionLocks.Held> lockAll, Supplier<Committer> committer, Router router, BooleanSupplier operating,
                  OperationScope scope) {
        this.lockAll = lockAll;
        this.committer = committer;
        this.router = router;
        this.operating = operating;
        this.scope = scope;
    }

    /**
     * Runs a will sent by its timer as one engine operation (the engine's {@code guarded}): the
     * record's delete and the routing reach the batch together or not at all. Wills sent from a
     * connect, disconnect or discard are already inside that operation.
     */
    interface OperationScope {
        void run(String what, Runnable body);
    }

    /** After recovery: the wills read from the store, each with its connection's end (see {@code Recovery.will}). */
    void loadRecovered(Map<String, StoredWill> recovered) {
        wills.clear();
        recovered.forEach(wills::put);
    }

    /** The engine returns to the store's state: the wills are read again by recovery. */
    void clear() {
        wills.clear();
    }

    /** Whether the client has a will stored (held, scheduled or waiting for its connection's end). */
    boolean hasWill(String clientId) {
        return wills.get(clientId) != null;
    }

    /** True while the session's recovered will waits for {@link #start}: do not discard the session yet. */
    boolean holds(String clientId) {
        return wills.holds(clientId);
    }

    boolean started() {
        return wills.started();
    }

    void start(WillGate gate) {
        this.gate = Objects.requireNonNull(gate, "gate");
        wills.start();
    }

    /** Sends the due wills of offline sessions and schedules the others (after {@link #start}, and after a reset). */
    void releaseRecovered(Map<String, EngineSession> sessions, long now) {
        for (Map.Entry<String, StoredWill> e : wills.entries()) {
            EngineSession s = sessions.get(e.getKey());
            if (s != null && !s.isOnline()) {
                schedule(s, e.getValue(), now);
            }
        }
    }

    /** A CONNECT's will (no end time: {@code Engine.connect} checks), stored with the session in the connect's batch. */
    void store(EngineSession s, StoredWill will) {
        wills.put(s.clientId, will);
        committer.get().put(StoreColumn.WILLS, s.key, WillCodec.encode(will));
    }

    /** A new connection to a session that may hold a will: sent if due or if the session ends, else cancelled. */
    void settleAtConnect(EngineSession s, boolean sessionEnds, long now) {
        StoredWill old = wills.get(s.clientId);
        if (old == null) {
            return;
        }
        if (old.connected()) {
            old = old.endedAt(now); // taken over: the old connection ends now
        }
        if (sessionEnds || old.dueAtMillis(s.expirySeconds) <= now) {
            fire(s.clientId, old);
        } else {
            wills.remove(s.clientId);
            committer.get().delete(StoreColumn.WILLS, s.key);
        }
    }

    /** The connection ended (its session's expiry already updated); see {@link WillAtEnd}. */
    void settleAtDisconnect(EngineSession s, WillAtEnd willAtEnd, long endedAt) {
        StoredWill w = wills.get(s.clientId);
        if (w == null || (willAtEnd == WillAtEnd.UNTIL_RESTART && s.expirySeconds != 0)) {
            return; // stopping: stored without an end, it counts from the restart as after a crash
        }
        if (willAtEnd == WillAtEnd.DELETE) {
            wills.remove(s.clientId);
            committer.get().delete(StoreColumn.WILLS, s.key);
            return;
        }
        w = w.endedAt(endedAt);
        wills.put(s.clientId, w);
        if (s.expirySeconds != 0) { // expiry 0: the session's discard sends it in this batch
            committer.get().put(StoreColumn.WILLS, s.key, WillCodec.encode(w));
            schedule(s, w, endedAt);
        }
    }

    /** The session is being discarded: the end of a session sends its will (MQTT 5 3.1.3.2.2), in this batch. */
    void sessionEnds(EngineSession s, long now) {
        StoredWill w = wills.get(s.clientId);
        if (w != null) {
            fire(s.clientId, w.connected() ? w.endedAt(now) : w);
        }
    }

    private void schedule(EngineSession s, StoredWill w, long now) {
        long delay = w.dueAtMillis(s.expirySeconds) - now;
        if (delay <= 0) {
            fire(s.clientId, w);
            return;
        }
        if (!wills.schedule(s.clientId, w, delay, () -> fireIfStill(s.clientId, w))) {
            log.info("will of client {} not scheduled: the engine is closing (it stays stored)", s.clientId);
        }
    }

    private void fireIfStill(String clientId, StoredWill w) {
        try {
            try (PartitionLocks.Held held = lockAll.get()) {
                if (operating.getAsBoolean() && wills.get(clientId) == w) {
                    scope.run("will of '" + clientId + "'", () -> fire(clientId, w));
                }
            }
        } catch (RuntimeException e) {
            log.error("sending the will of client {} failed (it stays stored)", clientId, e);
        }
    }

    /**
     * Sends a will: its record's delete and its routing go in one batch, so a crash leaves both
     * (sent once) or neither (sent after the restart), never one without the other.
     */
    private void fire(String clientId, StoredWill w) {
        wills.remove(clientId);
        committer.get().delete(StoreColumn.WILLS, Keys.session(clientId));
        if (!gate.mayPublish(clientId, w.username(), w.topic())) {
            log.info("will of client {} to topic {} not published: not authorized", clientId, w.topic());
            return;
        }
        CompletableFuture<PublishResult> result = new CompletableFuture<>();
        router.route(clientId, w.toMessage(System.currentTimeMillis()), result);
        result.whenComplete((r, err) -> {
            if (err != null) {
                log.warn("will of client {} to topic {} failed: {}", clientId, w.topic(), err.toString());
            } else if (r.status().isQuotaRefusal()) {
                log.warn("will of client {} to topic {} refused ({})", clientId, w.topic(), r.status());
            }
        });
    }

    @Override
    public void close() {
        wills.close();
    }
}
