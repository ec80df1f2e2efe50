package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightEntry;
import io.durablemq.engine.delivery.InflightState;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.OverflowPolicy;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.guard.Admission;
import io.durablemq.engine.message.BodyCache;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.metrics.EngineMetrics;
import io.durablemq.engine.metrics.EngineStats;
import io.durablemq.engine.metrics.LargestQueues;
import io.durablemq.engine.metrics.StageTimers;
import io.durablemq.engine.metrics.StoreMetrics;
import io.durablemq.engine.queue.QueuePageReader;
import io.durablemq.engine.queue.StoreQueueReader;
import io.durablemq.engine.metrics.TimedCompletion;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionClosedException;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreOpenException;
import io.durablemq.engine.store.StoreWriteException;
import io.durablemq.engine.topic.SubscribeResult;
import io.durablemq.engine.topic.Subscription;
import io.durablemq.engine.topic.SubscriptionCodec;
import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;
import io.durablemq.engine.topic.TopicFilter;
import io.durablemq.engine.will.StoredWill;
import io.durablemq.engine.will.WillGate;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The durable delivery engine: the single owner of sessions, subscriptions, queues, in-flight
 * windows, QoS 2 receive records and retained messages. See engine/README.md.
 *
 * <p>Every operation changes the in-memory image under one lock and appends the matching
 * writes to the committer's open batch in the same critical section, so memory and store
 * move in the same order. What a client may observe (an acknowledgement, a PUBLISH to a
 * subscriber) is released only from a commit completion, i.e. once durable.
 */
public final class Engine implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    private final EngineState st;
    private final Committer.Observer commitObserver;
    /** Commit batches written and not yet completed (the pipelined committer; -Ddurablemq.commit.batchesInFlight). */
    private final int commitsInFlight;
    /** Where the committer makes batches durable: the local store, or a cluster's replicated log. */
    private final io.durablemq.engine.store.BatchLog batchLog;
    /** The invariant check recovery defers: on a snapshot, in the background, reporting only. */
    private final io.durablemq.engine.check.BackgroundCheck backgroundCheck;
    private final ScheduledExecutorService sweeper;
    private final OperationGuard guard;
    /** How many sessions the per-session queue gauges cover. */
    static final int LARGEST_QUEUES_EXPORTED = 10;
    private final LargestQueues largestQueues;
    /** The broker-wide queue budget and heap guard: whether new QoS 1/2 publishes are taken at all. */
    private final Admission admission;
    private final WillLifecycle wills;
    private final SessionDelivery delivery;
    private final PublishRouting routing;

    private Engine(EngineConfig config, Store store, MeterRegistry meters, io.durablemq.engine.store.BatchLog batchLog) {
        this.st = new EngineState(config, store, meters);
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "durablemq-sweeper");
            t.setDaemon(true);
            return t;
        });
        this.guard = new OperationGuard(st, sweeper);
        guard.resetBy(new OperationGuard.ImageReset() {
            @Override
            public List<SessionListener> dropImage() {
                return Engine.this.dropImage();
            }

            @Override
            public void resetToDurableState() {
                Engine.this.resetToDurableState();
            }
        });
        this.commitsInFlight = io.durablemq.engine.store.CommitPipelineDepth.configured();
        this.batchLog = batchLog;
        this.largestQueues = new LargestQueues(meters);
        this.backgroundCheck = new io.durablemq.engine.check.BackgroundCheck(meters,
                Long.getLong("durablemq.backgroundCheck.windowIds", io.durablemq.engine.check.BackgroundCheck.DEFAULT_WINDOW_IDS));
        this.admission = Admission.start(config.admission(), config.dataPath(), meters, st.stats::queuedBytes);
        StoreMetrics.register(meters, this::storeProperty);
        this.delivery = new SessionDelivery(st);
        this.routing = new PublishRouting(st, guard, delivery, admission);
        this.wills = new WillLifecycle(st.mutex, () -> st.committer, routing::routeWill,
                () -> !st.closed && !st.resetting, (what, body) -> guard.guarded(what, null, body));
        this.commitObserver = new Committer.Observer() {
            @Override
            public void committed(int writes, int completions, long nanos) {
                st.metrics.committed(writes, nanos);
            }

            @Override
            public void batchWaited(long nanos) {
                st.stages.record(StageTimers.Stage.BATCH_WAIT, nanos);
            }

            @Override
            public void commitFailed(StoreWriteException cause) {
                st.metrics.commitFailed();
                sweeperReset();
            }

            @Override
            public void completionThrew(Throwable error) {
                st.metrics.internalError("commit_completion");
            }
        };
        st.committer = new Committer(st.store, commitObserver, st.mutex, config.commitFaults(), batchLog, commitsInFlight);
        st.committer.lastWrites(st.refs); // the body count, once per batch
    }

    /** Opens (or creates) the store in {@code config.dataPath()} and recovers its state. */
    public static Engine open(EngineConfig config, MeterRegistry meters) throws StoreOpenException {
        return open(config, meters, io.durablemq.engine.store.BatchLog.LOCAL);
    }

    /** Like {@link #open(EngineConfig, MeterRegistry)}, committing through {@code batchLog} (a cluster's replicated log). */
    public static Engine open(EngineConfig config, MeterRegistry meters, io.durablemq.engine.store.BatchLog batchLog)
            throws StoreOpenException {
        io.durablemq.engine.store.CommitPipelineDepth.configured(); // a bad option is refused before the store opens
        Store store = Store.open(config.dataPath(), config.durability());
        Engine engine = new Engine(config, store, meters, batchLog);
        try {
            io.durablemq.engine.queue.QueueCountersUpgrade.upgradeIfNeeded(store);
            engine.recover();
            engine.backgroundCheck.start(() -> engine.st.store, engine.st.storeLock);
        } catch (RuntimeException e) {
            engine.st.committer.close();
            engine.admission.close();
            engine.wills.close();
            store.close();
            throw new StoreOpenException(StoreOpenException.Reason.CORRUPT, config.dataPath(),
                    "recovery failed: " + e.getMessage(), e);
        }
        long sweepMillis = Math.max(10, config.expirySweepInterval().toMillis());
        engine.sweeper.scheduleWithFixedDelay(engine::sweepExpiredSessions, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
        engine.sweeper.scheduleWithFixedDelay(engine::sampleLargestQueues, 0, 5, TimeUnit.SECONDS);
        engine.sweeper.scheduleWithFixedDelay(engine.admission::sample, 1, 1, TimeUnit.SECONDS);
        return engine;
    }

    /** What the background check of the store found (recovery defers the full invariant check to it). */
    public io.durablemq.engine.check.BackgroundCheck.Report backgroundCheck() {
        return backgroundCheck.report();
    }

    /** Waits for the running background check (tests and benchmarks). */
    public io.durablemq.engine.check.BackgroundCheck.Report awaitBackgroundCheck(java.time.Duration timeout)
            throws InterruptedException {
        return backgroundCheck.await(timeout);
    }

    public RecoveryReport recoveryReport() {
        synchronized (st.mutex) {
            return st.recoveryReport;
        }
    }

    /** The state of one session, or null if there is none. */
    public SessionSnapshot session(String clientId) {
        synchronized (st.mutex) {
            EngineSession s = st.sessions.get(clientId);
            if (s == null) {
                return null;
            }
            Map<Integer, InflightState> inflight = new java.util.LinkedHashMap<>();
            s.inflight.forEach((id, e) -> inflight.put(id, e.state()));
            return new SessionSnapshot(s.clientId, s.isOnline(), s.expirySeconds, s.subscriptions.size(),
                    (int) Math.min(Integer.MAX_VALUE, s.queue.messages()), s.queue.bytes(), inflight, s.qos2Received.size(),
                    s.queue.headSize() + s.queue.unwrittenSize());
        }
    }

    /**
     * The queue length of an online session, or -1 if the session is offline or gone. Cheap
     * (no copy): the broker's back-pressure polls it for the few subscribers it waits on.
     */
    public int onlineQueuedMessages(String clientId) {
        synchronized (st.mutex) {
            EngineSession s = st.sessions.get(clientId);
            return s == null || !s.isOnline() ? -1 : (int) Math.min(Integer.MAX_VALUE, s.queue.messages());
        }
    }

    public EngineStats stats() {
        return st.stats;
    }

    /**
     * False while the store cannot commit: from a failed write (or a dead committer thread)
     * until the reset has reopened the store and recovered, and once the engine is closed.
     * Readiness probes use it: the broker answers 503 meanwhile.
     */
    private boolean isClosed() {
        synchronized (st.mutex) {
            return st.closed;
        }
    }

    public boolean isCommitting() {
        synchronized (st.mutex) {
            return !st.closed && !st.resetting && !st.committer.isFailed();
        }
    }

    /**
     * True while new QoS 1/2 publishes are refused for the whole broker: the queued bytes are
     * past {@code max_total_queued_bytes} (until they drain below 90 % of it) or the heap after
     * garbage collection is above the heap guard. The broker's {@code /ready} answers 503 meanwhile.
     */
    public boolean isRefusingPublishes() {
        return admission.isRefusing();
    }

    // ------------------------------------------------------------------ recovery

    private void recover() {
        synchronized (st.mutex) {
            long t0 = System.nanoTime();
            Recovery recovery = new Recovery(st.store, st.index, st.storePages); // first pages unmarked: no count reads at start
            Recovery.Result r = recovery.run(st.sessions, st.retained);
            wills.loadRecovered(recovery.wills);
            st.nextMessageId = r.nextMessageId();
            st.refs.restoreStoredBodies(r.storedBodies());
            st.queuedMessages = 0;
            st.queuedBytes = 0;
            st.inflightMessages = 0;
            st.onlineSessions = 0;
            for (EngineSession s : st.sessions.values()) {
                st.queuedMessages += s.queue.messages();
                st.queuedBytes += s.queue.bytes();
                st.inflightMessages += s.inflight.size();
            }
            // Sessions with expiry 0 lived only as long as their connection, which the restart ended.
            long now = System.currentTimeMillis();
            try (Committer.Operation op = st.committer.operation()) { // a throw leaves no half-discarded session
            for (EngineSession s : new ArrayList<>(st.sessions.values())) {
                if ((s.expirySeconds == 0 || s.isExpired(now)) && !wills.holds(s.clientId)) {
                    discard(s, "session_expired");
                }
            }
                op.succeeded();
            }
            if (wills.started()) {
                releaseRecoveredWills(); // a reset after a failed commit: the wills run on
            }
            long nanos = System.nanoTime() - t0;
            st.metrics.recovered(nanos);
            st.recoveryReport = new RecoveryReport(java.time.Duration.ofNanos(nanos), st.sessions.size(), st.index.size(),
                    st.queuedMessages, st.inflightMessages, r.storedBodies(), r.qos2Received(), st.retained.size(), r.recordsChecked());
            log.info("recovered {} in {} ms", st.recoveryReport, nanos / 1_000_000);
        }
    }

    /** A commit failed: everything after it was built on state that is not on disk. Rebuild from the store. */
    private void sweeperReset() {
        try {
            sweeper.execute(this::resetToDurableState);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            log.warn("a commit failed while the engine closes: no reset");
        }
    }

    /**
     * Returns the engine to what the store holds after a failed commit (disk full, I/O error).
     * Every connection is closed (its clients reconnect and resume from durable state), the
     * store is reopened, since RocksDB refuses writes after a failed WAL write until then,
     * and recovery runs again. While the store cannot be reopened, this retries every second
     * and every operation fails with {@link StoreWriteException}.
     */
    private void resetToDurableState() {
        List<SessionListener> toClose = new ArrayList<>();
        Committer failed;
        synchronized (st.mutex) {
            if (st.closed || (!st.resetting && !st.committer.isFailed())) {
                return;
            }
            if (!st.resetting) {
                log.warn("a commit failed: closing all connections and returning to the last durable state");
                toClose.addAll(dropImage());
            }
            failed = st.committer;
        }
        for (SessionListener l : toClose) {
            l.onSessionClosed(SessionListener.CloseReason.ENGINE_RESET);
        }
        failed.close(); // fails what is still queued on it: none of it was written
        backgroundCheck.cancel(); // it holds the store lock's read side
        st.storeLock.writeLock().lock();
        try {
            if (isClosed()) { // close() ran meanwhile: it closes the store; reopening it would leak it
                return;
            }
            st.store.close();
            st.store = Store.open(st.config.dataPath(), st.config.durability());
            io.durablemq.engine.queue.QueueCountersUpgrade.upgradeIfNeeded(st.store);
        } catch (StoreOpenException | RuntimeException e) {
            log.error("cannot reopen the store yet ({}); retrying in 1 s", e.getMessage());
            sweeper.schedule(this::resetToDurableState, 1, TimeUnit.SECONDS);
            return;
        } finally {
            st.storeLock.writeLock().unlock();
        }
        synchronized (st.mutex) {
            if (st.closed) { // close() closes the reopened store; recovering from it would read a closed RocksDB
                return;
            }
            st.committer = new Committer(st.store, commitObserver, st.mutex, st.config.commitFaults(), batchLog, commitsInFlight);
            st.committer.lastWrites(st.refs);
            try {
                recover();
                backgroundCheck.start(() -> st.store, st.storeLock);
                st.resetting = false;
                log.warn("engine is back at its last durable state; clients may reconnect");
            } catch (RuntimeException e) {
                log.error("recovery after a failed commit failed; retrying in 1 s", e);
                st.sessions.clear();
                st.index = new SubscriptionIndex();
                st.refs.clear();
                st.retained.clear();
                sweeper.schedule(this::resetToDurableState, 1, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * Must hold mutex. Forgets the in-memory image (it is rebuilt from the store) and makes every
     * operation fail fast until then; returns the listeners to tell {@code ENGINE_RESET}.
     */
    private List<SessionListener> dropImage() {
        List<SessionListener> toClose = new ArrayList<>();
        st.resetting = true;
        for (EngineSession s : st.sessions.values()) {
            if (s.listener != null) {
                toClose.add(s.listener);
                s.listener = null;
            }
            s.discarded = true;
        }
        st.sessions.clear();
        st.retained.clear();
        wills.clear();
        st.index = new SubscriptionIndex();
        st.refs.clear();
        st.bodies.clear();
        st.onlineSessions = 0;
        st.unwrittenMarks.clear();
        return toClose;
    }

    // ------------------------------------------------------------------ operations

    // ------------------------------------------------------------------ connect

    /**
     * Attaches a connection to its session (creating, resuming or, with clean start, replacing
     * it). A previous connection of the same client id is told {@code TAKEN_OVER}.
     */
    public CompletableFuture<SessionHandle> connect(ConnectRequest request, SessionListener listener) {
        return connect(request, listener, null);
    }

    /**
     * Like {@link #connect(ConnectRequest, SessionListener)}, storing the connection's will (or
     * none) with the session in the same commit: it completes, and CONNACK may go, only once
     * the will is durable. A will the session still held from an ended connection is cancelled
     * in that commit, or sent in it when it is due or the session ends (clean start).
     */
    public CompletableFuture<SessionHandle> connect(ConnectRequest request, SessionListener listener, StoredWill will) {
        if (will != null && !will.connected()) {
            throw new IllegalArgumentException("a new connection's will has no end time");
        }
        CompletableFuture<SessionHandle> future = new CompletableFuture<>();
        SessionListener[] takenOverBox = {null};
        synchronized (st.mutex) {
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
            st.onlineSessions++;
            st.committer.put(StoreColumn.SESSIONS, s.key, s.record().encode());
            if (will != null) {
                wills.store(s, will);
            }
            Handle handle = new Handle(s, s.generation, present);
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

    private void goOffline(EngineSession s, long now) {
        s.listener = null;
        s.deliveryStarted = false;
        s.disconnectedAtMillis = now;
        s.generation++;
        st.onlineSessions--;
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
                synchronized (st.mutex) {
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

    // ------------------------------------------------------------------ publish

    /**
     * Publishes on behalf of the broker (will messages, system topics): routed like a client's
     * publish, with {@code originClientId} used for no-local, and never deduplicated.
     */
    public CompletableFuture<PublishResult> publish(String originClientId, Message message) {
        CompletableFuture<PublishResult> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        synchronized (st.mutex) {
            if (guard.failIfClosed(future)) {
                return future;
            }
            guard.guarded("publish to '" + message.topic() + "'", future,
                    () -> routing.route(null, originClientId, 0, message, future, immediate));
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    // ------------------------------------------------------------------ delivery

    // ------------------------------------------------------------------ session removal

    /** Removes a session and everything it holds, in memory and (one batch) in the store. */
    private void discard(EngineSession s, String dropReason) {
        wills.sessionEnds(s, System.currentTimeMillis());
        st.sessions.remove(s.clientId);
        s.discarded = true;
        for (String f : s.subscriptions.keySet()) {
            st.index.remove(s.clientId, f);
        }
        // Entries past the head are read from the store in pages: their bodies' references are
        // counted in the store (BodyRefs) and must be released.
        s.queue.forEach(st.pageReader, e -> {
            st.unqueue(e);
            st.releaseBody(e.messageId(), e.soleReference());
            st.metrics.dropped(dropReason);
        });
        s.queue.clear();
        st.unwrittenMarks.forget(s.queue);
        for (InflightEntry e : s.inflight.values()) {
            st.inflightMessages--;
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

    private long storeProperty(String name) {
        st.storeLock.readLock().lock();
        try {
            synchronized (st.mutex) {
                if (st.closed) {
                    return -1;
                }
            }
            return st.store.longPropertySum(name);
        } finally {
            st.storeLock.readLock().unlock();
        }
    }

    /** Refreshes the per-session queue gauges with the sessions whose queues are longest now. */
    void sampleLargestQueues() {
        try {
            java.util.PriorityQueue<LargestQueues.Sample> top = new java.util.PriorityQueue<>(
                    java.util.Comparator.comparingLong(LargestQueues.Sample::messages));
            synchronized (st.mutex) {
                if (st.closed) {
                    return;
                }
                for (EngineSession s : st.sessions.values()) {
                    if (s.queue.isEmpty()) {
                        continue;
                    }
                    if (top.size() < LARGEST_QUEUES_EXPORTED) {
                        top.add(new LargestQueues.Sample(s.clientId, s.queue.messages(), s.queue.bytes()));
                    } else if (top.peek().messages() < s.queue.messages()) {
                        top.poll();
                        top.add(new LargestQueues.Sample(s.clientId, s.queue.messages(), s.queue.bytes()));
                    }
                }
            }
            largestQueues.update(new ArrayList<>(top));
        } catch (RuntimeException e) {
            log.error("sampling the largest queues failed", e);
        }
    }

    private void sweepExpiredSessions() {
        try {
            synchronized (st.mutex) {
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

    // ------------------------------------------------------------------ wills

    /**
     * Lets wills fire: the ones recovery found are sent if due (after a crash, a connected
     * client's connection ended at the restart) or scheduled at their due time, and sessions
     * that ended while their will was held are discarded. The broker calls this just before it
     * serves, with its publish ACL: a will is checked against it when it fires.
     */
    public void startWills(WillGate gate) {
        synchronized (st.mutex) {
            wills.start(gate);
            if (!st.closed && !st.resetting) {
                releaseRecoveredWills();
            }
        }
    }

    private void releaseRecoveredWills() {
        long now = System.currentTimeMillis();
        wills.releaseRecovered(st.sessions, now);
        for (EngineSession s : new ArrayList<>(st.sessions.values())) {
            if (!s.isOnline() && (s.expirySeconds == 0 || s.isExpired(now))) {
                discard(s, "session_expired");
            }
        }
    }

    // ------------------------------------------------------------------ backup

    /**
     * Writes a consistent copy of the store into {@code target} (a new folder outside the data
     * folder) while traffic continues. Everything accepted before the call, so every message
     * acknowledged before it, is in the copy: a barrier appended now is committed first (see
     * {@link io.durablemq.engine.backup.StoreBackup#awaitDurable}); the store lock keeps a
     * reset or close from closing the store under the checkpoint.
     */
    public io.durablemq.engine.backup.BackupResult backup(java.nio.file.Path target)
            throws io.durablemq.engine.backup.BackupException {
        java.time.Instant startedAt = java.time.Instant.now();
        long t0 = System.nanoTime();
        io.durablemq.engine.backup.StoreBackup.checkTarget(st.config.dataPath(), target);
        CompletableFuture<Void> barrier = new CompletableFuture<>();
        long messageIdsBelow;
        synchronized (st.mutex) {
            messageIdsBelow = st.nextMessageId;
            if (!guard.failIfClosed(barrier)) {
                guard.complete(barrier, null);
            }
        }
        io.durablemq.engine.backup.StoreBackup.awaitDurable(barrier, target);
        st.storeLock.readLock().lock();
        try {
            synchronized (st.mutex) {
                if (st.closed || st.resetting) {
                    throw new io.durablemq.engine.backup.BackupException(
                            io.durablemq.engine.backup.BackupException.Reason.UNAVAILABLE, target,
                            st.closed ? "the engine is closed" : "the engine is returning to its last durable state", null);
                }
            }
            return io.durablemq.engine.backup.StoreBackup.write(st.store, target, startedAt, t0, messageIdsBelow);
        } finally {
            st.storeLock.readLock().unlock();
        }
    }

    // ------------------------------------------------------------------ close

    @Override
    public void close() {
        List<SessionListener> toClose = new ArrayList<>();
        synchronized (st.mutex) {
            if (st.closed) {
                return;
            }
            for (EngineSession s : st.sessions.values()) {
                if (s.listener != null) {
                    toClose.add(s.listener);
                }
            }
        }
        for (SessionListener l : toClose) {
            l.onSessionClosed(SessionListener.CloseReason.ENGINE_CLOSED);
        }
        Committer last;
        synchronized (st.mutex) {
            st.closed = true;
            last = st.committer;
        }
        sweeper.shutdownNow();
        admission.close();
        wills.close();
        delivery.close();
        backgroundCheck.cancel();
        last.close();
        st.storeLock.writeLock().lock();
        try {
            st.store.close();
        } finally {
            st.storeLock.writeLock().unlock();
        }
        log.info("engine closed");
    }

    // ------------------------------------------------------------------ the handle

    private final class Handle implements SessionHandle {
        private final EngineSession s;
        private final long generation;
        private final boolean present;

        Handle(EngineSession s, long generation, boolean present) {
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
                guard.guarded(ack + " " + packetId + " of '" + s.clientId + "'", future, () -> {
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
                goOffline(s, System.currentTimeMillis());
                if (sessionExpirySeconds >= 0) {
                    s.expirySeconds = Math.min(sessionExpirySeconds, st.config.maxSessionExpirySeconds());
                }
                wills.settleAtDisconnect(s, willAtEnd, s.disconnectedAtMillis);
                if (s.expirySeconds == 0) {
                    Engine.this.discard(s, "session_discarded");
                } else {
                    st.committer.put(StoreColumn.SESSIONS, s.key, s.record().encode());
                }
                guard.complete(future, null);
                });
            }
            return future;
        }
    }
}
