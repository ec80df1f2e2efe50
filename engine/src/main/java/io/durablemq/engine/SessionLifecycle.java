package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.will.StoredWill;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;

/**
 * A session's life in the engine: a connection attaches to it (created, resumed or, with clean
 * start, replaced; a previous connection taken over), it goes offline, it expires, and it is
 * discarded with everything it holds. Every method but {@link #connect} and the sweep runs under
 * the engine's lock; those two take it. Makes the connections' handles
 * ({@link EngineSessionHandle}), which share its collaborators.
 */
final class SessionLifecycle {
    /** Logged as the engine's: operators look for these lines there. */
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    final EngineState st;
    final OperationGuard guard;
    final PublishRouting routing;
    final SessionDelivery delivery;
    final WillLifecycle wills;
    private final PublishLocks publishLocks;

    SessionLifecycle(EngineState st, OperationGuard guard, PublishRouting routing, SessionDelivery delivery,
                     WillLifecycle wills) {
        this.st = st;
        this.guard = guard;
        this.routing = routing;
        this.delivery = delivery;
        this.wills = wills;
        this.publishLocks = new PublishLocks(st);
    }

    PublishLocks publishLocks() {
        return publishLocks;
    }

    /**
     * The locks of an operation on one session that may end it or settle its will (connect,
     * disconnect): its partition, or every partition while the session holds a will, since
     * firing the will routes it like a publish to targets in any partition and the locks are taken
     * ascending, before the operation starts. A will is stored only under its session's partition
     * lock, so once that lock is held the check cannot change: a will found only then retries with all.
     */
    PartitionLocks.Held lockSessionAndWill(String clientId) {
        if (st.partitions.count() == 1) {
            return st.partitions.lockFor(clientId);
        }
        while (true) {
            boolean all = wills.hasWill(clientId);
            PartitionLocks.Held held = all ? st.partitions.lockAll() : st.partitions.lockFor(clientId);
            if (all || !wills.hasWill(clientId)) {
                return held;
            }
            held.close();
        }
    }

    /** Must hold no partition lock: {@link Engine#connect(ConnectRequest, SessionListener, StoredWill)}. */
    CompletableFuture<SessionHandle> connect(ConnectRequest request, SessionListener listener, StoredWill will) {
        if (will != null && !will.connected()) {
            throw new IllegalArgumentException("a new connection's will has no end time");
        }
        CompletableFuture<SessionHandle> future = new CompletableFuture<>();
        SessionListener[] takenOverBox = {null};
        try (PartitionLocks.Held held = lockSessionAndWill(request.clientId())) {
            if (guard.failIfClosed(future)) {
                return future;
            }
            guard.guarded("connect of '" + request.clientId() + "'", future, () -> {
                SessionListener takenOver = null;
            long now = System.currentTimeMillis();
            EngineSession s = st.sessions.get(request.clientId());
            boolean expired = s != null && s.isExpired(now);
            if (s != null && s.isOnline()) {
                // Takeover hands the session to the new connection at the same instant, so
                // even a session with expiry 0 lives on rather than ending with the old one.
                takenOver = s.listener;
                goOffline(s, now);
            }
            if (s != null && (request.cleanStart() || expired)) {
                st.indexChangeStarts(); // the discard below changes the index: its lock before the will's routing takes later ones
            }
            if (s != null) {
                wills.settleAtConnect(s, request.cleanStart() || expired, now);
            }
            if (s != null && (request.cleanStart() || expired)) {
                discard(s, "session_discarded");
                s = null;
            }
            boolean present = s != null;
            if (s == null) {
                s = new EngineSession(request.clientId());
                st.sessions.put(s.clientId, s);
            }
            s.expirySeconds = Math.min(request.sessionExpirySeconds(), st.config.maxSessionExpirySeconds());
            s.listener = listener;
            s.generation++;
            s.deliveryStarted = false;
            s.window = Math.min(request.receiveMaximum(), st.config.maxInflightPerSession());
            s.queue.fitWindow(s.window);
            // A resumed backlog's first page (and its bodies) is read while the CONNACK waits for this
            // batch and travels: an offline head holds only 64 entries, so without this the drain
            // would stall after them until startDelivery's pump asked for the page.
            delivery.readAhead.request(s, s.clientId, s.key, s.queue);
            st.partitionOf(s).onlineSessions++;
            st.committer.putOncePerBatch(StoreColumn.SESSIONS, s.key, s.record().encode()); // once per batch: see Committer
            if (will != null) {
                wills.store(s, will);
            }
            EngineSessionHandle handle = new EngineSessionHandle(this, s, s.generation, present);
            guard.complete(future, handle);
                takenOverBox[0] = takenOver;
            });
        }
        SessionListener takenOver = takenOverBox[0];
        if (takenOver != null) {
            takenOver.onSessionClosed(SessionListener.CloseReason.TAKEN_OVER);
        }
        return future;
    }

    /** Must hold the session's partition. The session's connection left (disconnect or takeover); its offline time starts at {@code now}. */
    void goOffline(EngineSession s, long now) {
        s.listener = null;
        s.deliveryStarted = false;
        s.disconnectedAtMillis = now;
        s.generation++;
        st.partitionOf(s).onlineSessions--;
        s.queue.fitWindow(0); // an offline session keeps PagedQueue.MIN_HEAD entries in memory
        if (s.queue.headSize() > s.queue.capacity()) {
            trimHeadOnceWritten(s, s.generation);
        }
    }

    /**
     * Trims an offline session's head once the open batch is written: every head entry's put is
     * in it or in an earlier batch, so the dropped entries are then in the store. Skipped if the
     * session came back (or was discarded) meanwhile.
     */
    private void trimHeadOnceWritten(EngineSession s, long generation) {
        st.committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                try (PartitionLocks.Held held = st.partitions.lockFor(s.clientId)) {
                    if (!s.discarded && s.generation == generation && !s.isOnline()) {
                        s.queue.trimHead();
                    }
                }
            }

            @Override
            public void failed(Throwable cause) {
                // The engine resets and rebuilds every queue from the store.
            }
        });
    }

    /** Must hold the session's partition. Removes a session and everything it holds, in memory and (one batch) in the store. */
    void discard(EngineSession s, String dropReason) {
        st.indexChangeStarts(); // before the will's routing, which may take the retained and count locks (later in the order)
        wills.sessionEnds(s, System.currentTimeMillis());
        st.sessions.remove(s.clientId);
        s.discarded = true;
        for (String f : s.subscriptions.keySet()) {
            st.index.remove(s.clientId, f);
        }
        // Entries past the head are read from the store in pages: their bodies' references are
        // counted in the store (BodyRefs) and must be released.
        s.queue.forEach(st.pageReader, e -> {
            st.unqueue(s, e);
            st.releaseBody(e.messageId(), e.soleReference());
            st.metrics.dropped(dropReason);
        });
        s.queue.clear();
        st.partitionOf(s).unwrittenMarks.forget(s.queue);
        for (InflightEntry e : s.inflight.values()) {
            st.partitionOf(s).inflightMessages--;
            if (e.messageId() != 0) {
                st.releaseBody(e.messageId(), e.soleReference());
                st.metrics.dropped(dropReason);
            }
        }
        s.inflight.clear();
        for (StoreColumn c : new StoreColumn[]{StoreColumn.SUBSCRIPTIONS, StoreColumn.QUEUES,
                StoreColumn.INFLIGHT, StoreColumn.QOS2_RECEIVED, StoreColumn.WILLS}) {
            st.committer.deleteRange(c, s.key, Keys.prefixEnd(s.key));
        }
        st.committer.delete(StoreColumn.SESSIONS, s.key);
    }

    /** The sweeper's periodic pass (takes the lock): discards each expired session as one operation. */
    void sweepExpiredSessions() {
        try {
            try (PartitionLocks.Held held = st.partitions.lockAll()) {
                if (st.closed) {
                    return;
                }
                long now = System.currentTimeMillis();
                for (EngineSession s : new ArrayList<>(st.sessions.values())) {
                    if (st.resetting) {
                        return; // an operation failed: nothing more is built on this image
                    }
                    if (s.isExpired(now) && !wills.holds(s.clientId)) {
                        log.info("session '{}' expired after {} s offline", s.clientId, s.expirySeconds);
                        guard.guarded("expiry of session '" + s.clientId + "'", null, () -> discard(s, "session_expired"));
                    }
                }
            }
        } catch (RuntimeException e) {
            log.error("session expiry sweep failed", e);
        }
    }

    /**
     * Must hold every partition. Sends or schedules the wills recovery found; discards the sessions that ended
     * meanwhile. One operation scope (a throw propagates to the caller, recovery or the broker's
     * start, and none of its writes are appended).
     */
    void releaseRecoveredWills() {
        try (io.durablemq.engine.store.BatchOperation op = st.committer.operation()) {
            st.severalWillsStart();
            long now = System.currentTimeMillis();
            wills.releaseRecovered(st.sessions, now);
            for (EngineSession s : new ArrayList<>(st.sessions.values())) {
                if (!s.isOnline() && (s.expirySeconds == 0 || s.isExpired(now))) {
                    discard(s, "session_expired");
                }
            }
            op.succeeded();
        }
    }
}
