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

    private final EngineConfig config;
    /** Replaced only when the engine reopens the store after a failed write (under storeLock's write lock). */
    private volatile Store store;
    /** Replaced with the store; read and appended to under mutex. */
    private Committer committer;
    private final java.util.concurrent.locks.ReentrantReadWriteLock storeLock = new java.util.concurrent.locks.ReentrantReadWriteLock();
    private final Committer.Observer commitObserver;
    /** Commit batches written and not yet completed (the pipelined committer; -Ddurablemq.commit.batchesInFlight). */
    private final int commitsInFlight;
    /** Where the committer makes batches durable: the local store, or a cluster's replicated log. */
    private final io.durablemq.engine.store.BatchLog batchLog;
    private final EngineMetrics metrics;
    /** Where a QoS 1/2 publish's time goes (route, batch wait, completion here; decode and send in the broker). */
    private final StageTimers stages;
    private final BodyCache bodies;
    /** The invariant check recovery defers: on a snapshot, in the background, reporting only. */
    private final io.durablemq.engine.check.BackgroundCheck backgroundCheck;
    private final ScheduledExecutorService sweeper;
    private final Object mutex = new Object();
    private final Stats stats = new Stats();
    /** How many sessions the per-session queue gauges cover. */
    static final int LARGEST_QUEUES_EXPORTED = 10;
    private final LargestQueues largestQueues;
    /** The broker-wide queue budget and heap guard: whether new QoS 1/2 publishes are taken at all. */
    private final Admission admission;

    // Guarded by mutex.
    private final Map<String, EngineSession> sessions = new HashMap<>();
    private SubscriptionIndex index = new SubscriptionIndex();
    private final Map<String, Message> retained = new HashMap<>();
    /** Bodies' reference counts, stored (delivery.BodyRefs): nothing per body in memory. */
    private final io.durablemq.engine.delivery.BodyRefs refs = new io.durablemq.engine.delivery.BodyRefs(mutex, () -> store);
    private final WillLifecycle wills = new WillLifecycle(mutex, () -> this.committer, this::routeWill,
            () -> !this.closed && !this.resetting, (what, body) -> guarded(what, null, body));
    private long nextMessageId = 1;
    private long queuedMessages;
    private long queuedBytes;
    private long inflightMessages;
    private long onlineSessions;
    private boolean closed;
    /** True from a failed commit until the store is reopened and recovered; operations fail meanwhile. */
    private boolean resetting;
    private RecoveryReport recoveryReport;
    /** Reads queue pages from the current store; called under mutex (see PagedQueue). */
    private final QueuePageReader storePages = new StoreQueueReader(() -> store);
    /** Page reads for delivery, eviction and discard also mark the entries that are their body's only reference. */
    private final QueuePageReader pageReader = new io.durablemq.engine.queue.SoleReferenceReader(storePages, () -> store);
    /** Queues with entries only the open batch holds, told when it is written (see PagedQueue). */
    private final io.durablemq.engine.queue.UnwrittenMarks unwrittenMarks = new io.durablemq.engine.queue.UnwrittenMarks(mutex);
    /** Reads queue pages for delivery on its own thread, outside the lock. */
    private final io.durablemq.engine.queue.QueueReadAhead<EngineSession> readAhead;

    private Engine(EngineConfig config, Store store, MeterRegistry meters, io.durablemq.engine.store.BatchLog batchLog) {
        this.config = config;
        this.commitsInFlight = io.durablemq.engine.store.CommitPipelineDepth.configured();
        this.batchLog = batchLog;
        this.store = store;
        this.bodies = new BodyCache(config.bodyCacheBytes());
        this.metrics = new EngineMetrics(meters, stats);
        this.largestQueues = new LargestQueues(meters);
        this.backgroundCheck = new io.durablemq.engine.check.BackgroundCheck(meters,
                Long.getLong("durablemq.backgroundCheck.windowIds", io.durablemq.engine.check.BackgroundCheck.DEFAULT_WINDOW_IDS));
        this.stages = new StageTimers(meters);
        this.admission = Admission.start(config.admission(), config.dataPath(), meters, stats::queuedBytes);
        StoreMetrics.register(meters, this::storeProperty);
        this.commitObserver = new Committer.Observer() {
            @Override
            public void committed(int writes, int completions, long nanos) {
                metrics.committed(writes, nanos);
            }

            @Override
            public void batchWaited(long nanos) {
                stages.record(StageTimers.Stage.BATCH_WAIT, nanos);
            }

            @Override
            public void commitFailed(StoreWriteException cause) {
                metrics.commitFailed();
                sweeperReset();
            }

            @Override
            public void completionThrew(Throwable error) {
                metrics.internalError("commit_completion");
            }
        };
        this.committer = new Committer(store, commitObserver, mutex, config.commitFaults(), batchLog, commitsInFlight);
        this.committer.lastWrites(refs); // the body count, once per batch
        this.readAhead = new io.durablemq.engine.queue.QueueReadAhead<>(mutex, storeLock, pageReader,
                new io.durablemq.engine.queue.QueueReadAhead.Owner<>() {
                    @Override
                    public boolean accepts(EngineSession s) {
                        return !closed && !resetting && !s.discarded;
                    }

                    @Override
                    public List<Runnable> pump(EngineSession s) {
                        List<Runnable> sends = new ArrayList<>();
                        List<Runnable> immediate = new ArrayList<>();
                        Engine.this.pump(s, sends, immediate);
                        runAfterDurable(sends);
                        return immediate;
                    }

                    @Override
                    public void internalError(String where) {
                        metrics.internalError(where);
                    }
                });
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "durablemq-sweeper");
            t.setDaemon(true);
            return t;
        });
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
            engine.backgroundCheck.start(() -> engine.store, engine.storeLock);
        } catch (RuntimeException e) {
            engine.committer.close();
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
        synchronized (mutex) {
            return recoveryReport;
        }
    }

    /** The state of one session, or null if there is none. */
    public SessionSnapshot session(String clientId) {
        synchronized (mutex) {
            EngineSession s = sessions.get(clientId);
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
        synchronized (mutex) {
            EngineSession s = sessions.get(clientId);
            return s == null || !s.isOnline() ? -1 : (int) Math.min(Integer.MAX_VALUE, s.queue.messages());
        }
    }

    public EngineStats stats() {
        return stats;
    }

    /**
     * False while the store cannot commit: from a failed write (or a dead committer thread)
     * until the reset has reopened the store and recovered, and once the engine is closed.
     * Readiness probes use it: the broker answers 503 meanwhile.
     */
    private boolean isClosed() {
        synchronized (mutex) {
            return closed;
        }
    }

    public boolean isCommitting() {
        synchronized (mutex) {
            return !closed && !resetting && !committer.isFailed();
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
        synchronized (mutex) {
            long t0 = System.nanoTime();
            Recovery recovery = new Recovery(store, index, storePages); // first pages unmarked: no count reads at start
            Recovery.Result r = recovery.run(sessions, retained);
            wills.loadRecovered(recovery.wills);
            nextMessageId = r.nextMessageId();
            refs.restoreStoredBodies(r.storedBodies());
            queuedMessages = 0;
            queuedBytes = 0;
            inflightMessages = 0;
            onlineSessions = 0;
            for (EngineSession s : sessions.values()) {
                queuedMessages += s.queue.messages();
                queuedBytes += s.queue.bytes();
                inflightMessages += s.inflight.size();
            }
            // Sessions with expiry 0 lived only as long as their connection, which the restart ended.
            long now = System.currentTimeMillis();
            try (Committer.Operation op = committer.operation()) { // a throw leaves no half-discarded session
            for (EngineSession s : new ArrayList<>(sessions.values())) {
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
            metrics.recovered(nanos);
            recoveryReport = new RecoveryReport(java.time.Duration.ofNanos(nanos), sessions.size(), index.size(),
                    queuedMessages, inflightMessages, r.storedBodies(), r.qos2Received(), retained.size(), r.recordsChecked());
            log.info("recovered {} in {} ms", recoveryReport, nanos / 1_000_000);
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
        synchronized (mutex) {
            if (closed || (!resetting && !committer.isFailed())) {
                return;
            }
            if (!resetting) {
                log.warn("a commit failed: closing all connections and returning to the last durable state");
                toClose.addAll(dropImage());
            }
            failed = committer;
        }
        for (SessionListener l : toClose) {
            l.onSessionClosed(SessionListener.CloseReason.ENGINE_RESET);
        }
        failed.close(); // fails what is still queued on it: none of it was written
        backgroundCheck.cancel(); // it holds the store lock's read side
        storeLock.writeLock().lock();
        try {
            if (isClosed()) { // close() ran meanwhile: it closes the store; reopening it would leak it
                return;
            }
            store.close();
            store = Store.open(config.dataPath(), config.durability());
            io.durablemq.engine.queue.QueueCountersUpgrade.upgradeIfNeeded(store);
        } catch (StoreOpenException | RuntimeException e) {
            log.error("cannot reopen the store yet ({}); retrying in 1 s", e.getMessage());
            sweeper.schedule(this::resetToDurableState, 1, TimeUnit.SECONDS);
            return;
        } finally {
            storeLock.writeLock().unlock();
        }
        synchronized (mutex) {
            if (closed) { // close() closes the reopened store; recovering from it would read a closed RocksDB
                return;
            }
            committer = new Committer(store, commitObserver, mutex, config.commitFaults(), batchLog, commitsInFlight);
            committer.lastWrites(refs);
            try {
                recover();
                backgroundCheck.start(() -> store, storeLock);
                resetting = false;
                log.warn("engine is back at its last durable state; clients may reconnect");
            } catch (RuntimeException e) {
                log.error("recovery after a failed commit failed; retrying in 1 s", e);
                sessions.clear();
                index = new SubscriptionIndex();
                refs.clear();
                retained.clear();
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
        resetting = true;
        for (EngineSession s : sessions.values()) {
            if (s.listener != null) {
                toClose.add(s.listener);
                s.listener = null;
            }
            s.discarded = true;
        }
        sessions.clear();
        retained.clear();
        wills.clear();
        index = new SubscriptionIndex();
        refs.clear();
        bodies.clear();
        onlineSessions = 0;
        unwrittenMarks.clear();
        return toClose;
    }

    // ------------------------------------------------------------------ operations

    /**
     * Must hold mutex. Runs one operation so that its writes reach the commit batch only if all
     * of it succeeded ({@link Committer#operation()}). On any Throwable (a bug, an
     * OutOfMemoryError where the JVM was not told to exit on it) its writes and completions are
     * taken out of the batch again, its future fails ({@link EngineOperationException}), the
     * error is counted ({@code durablemq_internal_errors_total{where="operation"}}) and the
     * engine rebuilds its in-memory image from the store: see {@link #operationFailed}.
     */
    private void guarded(String what, CompletableFuture<?> future, Runnable body) {
        Committer.Operation op = committer.operation();
        long storedBodiesBefore = refs.storedBodies();
        try {
            body.run();
            op.succeeded();
        } catch (Throwable e) {
            refs.operationRolledBack(storedBodiesBefore); // the batch carries the count of what it holds
            operationFailed(what, op, future, e);
        }
    }

    /**
     * The in-memory changes of a failed operation are not undone piece by piece: an undo list
     * would have to cover every structure an operation touches (queues, reference counts, the
     * body cache and its pins, packet ids, sends already handed to a session's outbox, shared
     * group cursors, retained messages, counters), and one missed change leaves an image that
     * disagrees with the store, which can later delete a body still referenced: a lost message.
     * Rebuilding from the store cannot miss anything. The open batch (the operations before this
     * one, which succeeded) is still committed; the committer is sealed so that nothing built on
     * the broken image follows it; then the reset that a failed commit runs (connections closed,
     * store reopened, recovery) restores an image equal to the store. Errors inside an operation
     * are bugs (an OutOfMemoryError ends the JVM: ops/README.md), so their cost is acceptable.
     */
    private void operationFailed(String what, Committer.Operation op, CompletableFuture<?> future, Throwable error) {
        try {
            op.close();
        } catch (Throwable rollbackFailed) {
            error.addSuppressed(rollbackFailed);
        }
        metrics.internalError("operation");
        log.error("{} failed inside the engine; none of its writes are committed. The engine returns to its last"
                + " durable state (connections close, clients resume)", what, error);
        if (future != null) {
            future.completeExceptionally(new EngineOperationException(what, error));
        }
        if (!resetting) {
            committer.seal();
            List<SessionListener> toClose = dropImage();
            try {
                sweeper.execute(() -> {
                    for (SessionListener l : toClose) {
                        l.onSessionClosed(SessionListener.CloseReason.ENGINE_RESET);
                    }
                    resetToDurableState();
                });
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                log.warn("an operation failed while the engine closes: no reset");
            }
        }
        if (error instanceof VirtualMachineError fatal) {
            throw fatal; // the JVM may not go on safely: the caller decides (the broker exits)
        }
    }

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
        synchronized (mutex) {
            if (failIfClosed(future)) {
                return future;
            }
            guarded("connect of '" + request.clientId() + "'", future, () -> {
                SessionListener takenOver = null;
            long now = System.currentTimeMillis();
            EngineSession s = sessions.get(request.clientId());
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
                sessions.put(s.clientId, s);
            }
            s.expirySeconds = Math.min(request.sessionExpirySeconds(), config.maxSessionExpirySeconds());
            s.listener = listener;
            s.generation++;
            s.deliveryStarted = false;
            s.window = Math.min(request.receiveMaximum(), config.maxInflightPerSession());
            s.queue.fitWindow(s.window);
            onlineSessions++;
            committer.putOncePerBatch(StoreColumn.SESSIONS, s.key, s.record().encode()); // once per batch: see Committer
            if (will != null) {
                wills.store(s, will);
            }
            Handle handle = new Handle(s, s.generation, present);
            complete(future, handle);
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
        onlineSessions--;
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
        committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                synchronized (mutex) {
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
        synchronized (mutex) {
            if (failIfClosed(future)) {
                return future;
            }
            guarded("publish to '" + message.topic() + "'", future,
                    () -> route(null, originClientId, 0, message, future, immediate));
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    private <T> void route(EngineSession publisher, String originClientId, int packetId, Message message,
                           CompletableFuture<T> future, List<Runnable> immediate) {
        @SuppressWarnings("unchecked")
        CompletableFuture<PublishResult> result = (CompletableFuture<PublishResult>) future;
        long now = System.currentTimeMillis();
        metrics.received(message.qos());
        if (message.qos() == 2 && publisher != null && publisher.qos2Received.contains(packetId)) {
            metrics.duplicateSuppressed();
            complete(result, new PublishResult(PublishResult.Status.DUPLICATE, 0));
            return;
        }
        if (message.isExpired(now)) {
            metrics.dropped("expired");
            completeAfter(result, new PublishResult(PublishResult.Status.ACCEPTED, 0), message.qos());
            return;
        }
        Map<EngineSession, Targets.Target> targets = Targets.match(index, sessions, message.topic(), originClientId);
        int size = message.sizeEstimate();
        if (message.qos() > 0) {
            Admission.Refusal refusal = admission.check(queuedBytes, (long) size * targets.size());
            if (refusal != null) {
                completeAfter(result, new PublishResult(refusal == Admission.Refusal.HEAP
                        ? PublishResult.Status.HEAP_PRESSURE : PublishResult.Status.BUDGET_EXCEEDED, 0), message.qos());
                return;
            }
        }
        if (message.qos() > 0 && config.overflowPolicy() == OverflowPolicy.REJECT) {
            for (Targets.Target t : targets.values()) {
                if (Math.min(message.qos(), t.maxQos) > 0 && wouldOverflow(t.session, size)) {
                    metrics.dropped("quota_exceeded");
                    log.warn("refused a publish to '{}': the queue of session '{}' is full ({} messages, {} bytes)",
                            message.topic(), t.session.clientId, t.session.queue.messages(), t.session.queue.bytes());
                    completeAfter(result, new PublishResult(PublishResult.Status.QUOTA_EXCEEDED, 0), message.qos());
                    return;
                }
            }
        }
        if (message.retain()) {
            setRetained(message);
        }
        if (targets.isEmpty()) {
            metrics.dropped("no_subscribers");
        }
        long messageId = 0;
        List<Runnable> sends = new ArrayList<>();
        List<EngineSession> routed = new ArrayList<>(targets.size());
        // With at most one QoS 1/2 target the body has at most one entry: its release reads no count.
        boolean sole = storedTargets(targets, message.qos()) == 1;
        for (Targets.Target t : targets.values()) {
            EngineSession s = t.session;
            int qos = Math.min(message.qos(), t.maxQos);
            boolean retainFlag = t.retainAsPublished && message.retain();
            if (qos == 0) {
                if (s.canSendNow()) {
                    SessionListener l = s.listener;
                    OutboundPublish p = new OutboundPublish(0, 0, false, retainFlag, message, t.subscriptionIds);
                    s.outbox.add(() -> l.onPublish(p)); // one call at a time per session
                    immediate.add(s.outbox::drain);
                    metrics.delivered(0);
                    metrics.acknowledged(0, -1);
                } else {
                    metrics.dropped("qos0_offline");
                }
                continue;
            }
            if (wouldOverflow(s, size)) {
                if (config.overflowPolicy() == OverflowPolicy.DROP_OLDEST && !s.queue.isEmpty()) {
                    while (!s.queue.isEmpty() && wouldOverflow(s, size)) {
                        QueueEntry evicted = s.queue.evictOldest(pageReader); // from the head; reads only if it is empty
                        unqueue(evicted);
                        committer.delete(StoreColumn.QUEUES, Keys.queueEntry(s.key, evicted.seq())); // Delete, not SingleDelete: see engine/README.md
                        releaseBody(evicted.messageId(), evicted.soleReference());
                        metrics.dropped("queue_full_evicted");
                    }
                    readAhead.request(s, s.clientId, s.key, s.queue); // refill the head off the lock before it runs dry
                    log.warn("session '{}' queue full: evicted its oldest messages", s.clientId);
                } else {
                    metrics.dropped("queue_full");
                    log.warn("session '{}' queue full: dropped a message to '{}'", s.clientId, message.topic());
                    continue;
                }
            }
            if (messageId == 0) {
                messageId = storeBody(message);
            }
            enqueue(s, new QueueEntry(s.queue.takeSeq(), messageId, qos, retainFlag, message.expiresAtMillis(), now,
                    size, t.ids(), sole));
            routed.add(s);
            config.commitFaults().routedTo(routed.size());
        }
        // Pumped only once every queue holds its reference to the body: an acknowledgement
        // handled between two enqueues would drop the count to 0 and delete the body under the
        // sessions still to come. Listener calls run outside the lock, so none can today; this
        // keeps the count right whatever the callbacks' timing.
        if (messageId != 0) {
            refs.routed(messageId, routed.size(), committer); // one count record for a fan-out, none for one entry
        }
        for (EngineSession s : routed) {
            pump(s, sends, immediate);
        }
        if (message.qos() == 2 && publisher != null) {
            publisher.qos2Received.add(packetId);
            committer.put(StoreColumn.QOS2_RECEIVED, Keys.packet(publisher.key, packetId),
                    ByteBuffer.allocate(8).putLong(now).array());
        }
        unwrittenMarks.registerOn(committer);
        runAfterDurable(sends);
        PublishResult accepted = new PublishResult(PublishResult.Status.ACCEPTED, targets.size(),
                DeepestBacklog.of(routed, publisher));
        if (message.qos() == 0) {
            result.complete(accepted);
        } else {
            committer.onDurable(new TimedCompletion<>(result, accepted, stages, committer)); // records the completion stage
        }
    }

    /** QoS 0 answers need no durability; QoS 1/2 answers wait for the commit. */
    private <T> void completeAfter(CompletableFuture<T> future, T value, int qos) {
        if (qos == 0) {
            future.complete(value);
        } else {
            complete(future, value);
        }
    }

    /** Targets that get a queue entry unless their queue is full: those with QoS 1 or 2 after the subscription's maximum. */
    private static int storedTargets(Map<EngineSession, Targets.Target> targets, int qos) {
        if (qos == 0) {
            return 0;
        }
        int n = 0;
        for (Targets.Target t : targets.values()) {
            if (t.maxQos > 0) {
                n++;
            }
        }
        return n;
    }

    private boolean wouldOverflow(EngineSession s, int size) {
        return s.queue.messages() + 1 > config.maxQueuedMessagesPerSession()
                || s.queue.bytes() + size > config.maxQueuedBytesPerSession();
    }

    private long storeBody(Message message) {
        long id = nextMessageId++;
        committer.put(StoreColumn.MESSAGES, Keys.message(id), MessageCodec.encode(message));
        bodies.put(id, message);
        refs.bodyStored();
        // Until the batch is written the store cannot serve this body: an early send must find it here.
        bodies.pin(id, message);
        committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                bodies.unpin(id);
            }

            @Override
            public void failed(Throwable cause) {
                bodies.unpin(id); // the reset reloads whatever the store holds
            }
        });
        return id;
    }

    /** Appends to the session's queue; its put and the session record's new counters go in the same batch. */
    private void enqueue(EngineSession s, QueueEntry e) {
        if (s.queue.add(e)) {
            unwrittenMarks.mark(s.queue, e.seq());
        }
        queuedMessages++;
        queuedBytes += e.size();
        committer.putNew(StoreColumn.QUEUES, Keys.queueEntry(s.key, e.seq()), e.encodeValue()); // a fresh seq: a pump in the same batch writes neither put nor delete
        persistSession(s);
    }

    /** The session record carries the queue's counters: changed with every queue change, written once per batch. */
    private void persistSession(EngineSession s) {
        committer.putOncePerBatch(StoreColumn.SESSIONS, s.key, s.record().encode());
    }

    private void unqueue(QueueEntry e) {
        queuedMessages--;
        queuedBytes -= e.size();
    }

    /**
     * Drops one reference to a body; the last one deletes it in the same batch. {@code sole}: the
     * entry knows it is the only reference (no count is read).
     */
    private void releaseBody(long messageId, boolean sole) {
        if (refs.release(messageId, sole, committer)) {
            committer.delete(StoreColumn.MESSAGES, Keys.message(messageId)); // Delete, not SingleDelete: see engine/README.md
            bodies.remove(messageId);
        }
    }

    private void setRetained(Message message) {
        byte[] key = Keys.retained(message.topic());
        if (message.payload().length == 0) {
            if (retained.remove(message.topic()) != null) {
                committer.delete(StoreColumn.RETAINED, key);
            }
        } else {
            retained.put(message.topic(), message);
            committer.put(StoreColumn.RETAINED, key, MessageCodec.encode(message));
        }
    }

    // ------------------------------------------------------------------ delivery

    /**
     * Moves queued messages into the in-flight window while it has room, each with a fresh
     * packet id recorded in the same batch that deletes its queue entry.
     *
     * <p>A QoS 2 PUBLISH is sent from the commit's completion: a subscriber deduplicates QoS 2 by
     * packet id, so it must never see an id the store does not hold (after a crash the message
     * would come back under another id and be delivered twice). A QoS 1 PUBLISH goes out at once,
     * before its batch is durable, unless an earlier send to the session still waits (it would
     * be overtaken). That is safe for at-least-once: if the batch is lost, either the message
     * is still queued and is sent again, or its publisher never got a PUBACK and resends it; the
     * subscriber sees a duplicate, which QoS 1 allows, and nothing acknowledged is lost. It
     * saves a commit's latency per delivery and lets a subscriber's window refill as fast as
     * it acknowledges, instead of one commit round trip per refill.
     */
    private void pump(EngineSession s, List<Runnable> sends, List<Runnable> immediate) {
        if (!s.canSendNow()) {
            return;
        }
        long now = System.currentTimeMillis();
        boolean drainQueued = false;
        boolean changed = false;
        QueueEntry e;
        while ((e = s.queue.peekInMemory()) != null) {
            if (e.qos() > 0 && !s.hasWindowSpace()) {
                break;
            }
            s.queue.pollInMemory();
            changed = true;
            unqueue(e);
            committer.delete(StoreColumn.QUEUES, Keys.queueEntry(s.key, e.seq())); // Delete, not SingleDelete: see engine/README.md
            if (e.isExpired(now)) {
                releaseBody(e.messageId(), e.soleReference());
                metrics.dropped("expired");
                continue;
            }
            if (e.qos() == 0) {
                Runnable send = sendAction(s, 0, e.messageId(), 0, false, e.retain(), e.subscriptionIds());
                long id = e.messageId();
                boolean sole = e.soleReference();
                // The body is read by the send, after the commit: release it only then.
                sendAfterCommit(s, sends, () -> {
                    send.run();
                    synchronized (mutex) {
                        if (!closed && !resetting) { // after a reset the image (and the count) is rebuilt
                            releaseBody(id, sole);
                        }
                    }
                });
                metrics.delivered(0);
                metrics.acknowledged(0, -1);
                continue;
            }
            int packetId = s.packetIds.allocate(s.inflight::containsKey);
            InflightEntry in = InflightEntry.sent(packetId, s.nextOrder++, e);
            s.inflight.put(packetId, in);
            inflightMessages++;
            committer.put(StoreColumn.INFLIGHT, Keys.packet(s.key, packetId), in.encodeValue());
            Runnable send = sendAction(s, packetId, e.messageId(), e.qos(), false, e.retain(), e.subscriptionIds());
            if (e.qos() == 1 && s.waitingSends.get() == 0) {
                s.outbox.add(send); // added under the mutex, so in routing order
                if (!drainQueued) {
                    immediate.add(s.outbox::drain);
                    drainQueued = true;
                }
            } else {
                sendAfterCommit(s, sends, send);
            }
            metrics.delivered(e.qos());
        }
        if (changed) {
            persistSession(s);
        }
        readAhead.request(s, s.clientId, s.key, s.queue);
    }

    /**
     * Queues a send for the commit's completion, counted so that no early send overtakes it: the
     * count drops only once the send is in the session's outbox, ahead of any later early send.
     */
    private static void sendAfterCommit(EngineSession s, List<Runnable> sends, Runnable send) {
        s.waitingSends.incrementAndGet();
        sends.add(() -> {
            s.outbox.add(send);
            s.waitingSends.decrementAndGet();
            s.outbox.drain();
        });
    }

    private Runnable sendAction(EngineSession s, int packetId, long messageId, int qos, boolean dup,
                                boolean retain, int[] subscriptionIds) {
        SessionListener listener = s.listener;
        List<Integer> ids = new ArrayList<>(subscriptionIds.length);
        for (int id : subscriptionIds) {
            ids.add(id);
        }
        // Taken now, under the lock, while the body is certainly in memory or in the store: a send
        // that runs before its batch is written must not depend on the cache keeping it.
        Message pinned = bodies.get(messageId);
        return () -> {
            try {
                Message body = pinned != null ? pinned : loadBody(messageId);
                if (body == null) {
                    if (s.discarded) {
                        log.debug("message {} for '{}' is gone (session discarded meanwhile)", messageId, s.clientId);
                    } else {
                        log.error("message {} for '{}' is missing from memory and store: not sent", messageId, s.clientId);
                        metrics.internalError("send");
                    }
                    return;
                }
                listener.onPublish(new OutboundPublish(packetId, qos, dup, retain, body, ids));
            } catch (Throwable t) {
                log.error("sending message {} to '{}' threw", messageId, s.clientId, t);
                metrics.internalError("send");
            }
        };
    }

    private Message loadBody(long messageId) {
        Message m = bodies.get(messageId);
        if (m != null) {
            return m;
        }
        byte[] raw;
        storeLock.readLock().lock();
        try {
            raw = store.get(StoreColumn.MESSAGES, Keys.message(messageId));
        } catch (StoreWriteException e) {
            return null; // store closed by a reset: the session is being closed anyway
        } finally {
            storeLock.readLock().unlock();
        }
        if (raw == null) {
            return null;
        }
        m = MessageCodec.decode(raw);
        bodies.put(messageId, m);
        return m;
    }

    private void runAfterDurable(List<Runnable> actions) {
        if (actions.isEmpty()) {
            return;
        }
        committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                for (Runnable r : actions) {
                    try {
                        r.run();
                    } catch (Throwable e) {
                        log.error("delivery callback threw", e);
                        metrics.internalError("send");
                    }
                }
            }

            @Override
            public void failed(Throwable cause) {
                // Not durable, so not sent: the engine resets and the session resends from the store.
            }
        });
    }

    private <T> void complete(CompletableFuture<T> future, T value) {
        committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                future.complete(value);
            }

            @Override
            public void failed(Throwable cause) {
                future.completeExceptionally(cause);
            }
        });
    }

    private boolean failIfClosed(CompletableFuture<?> future) {
        if (closed) {
            future.completeExceptionally(new StoreWriteException("engine is closed", null));
            return true;
        }
        if (resetting) {
            future.completeExceptionally(new StoreWriteException(
                    "the store failed a write (disk full?); the engine is returning to its last durable state", null));
            return true;
        }
        return false;
    }

    // ------------------------------------------------------------------ session removal

    /** Removes a session and everything it holds, in memory and (one batch) in the store. */
    private void discard(EngineSession s, String dropReason) {
        wills.sessionEnds(s, System.currentTimeMillis());
        sessions.remove(s.clientId);
        s.discarded = true;
        for (String f : s.subscriptions.keySet()) {
            index.remove(s.clientId, f);
        }
        // Entries past the head are read from the store in pages: their bodies' references are
        // counted in the store (BodyRefs) and must be released.
        s.queue.forEach(pageReader, e -> {
            unqueue(e);
            releaseBody(e.messageId(), e.soleReference());
            metrics.dropped(dropReason);
        });
        s.queue.clear();
        unwrittenMarks.forget(s.queue);
        for (InflightEntry e : s.inflight.values()) {
            inflightMessages--;
            if (e.messageId() != 0) {
                releaseBody(e.messageId(), e.soleReference());
                metrics.dropped(dropReason);
            }
        }
        s.inflight.clear();
        for (StoreColumn c : new StoreColumn[]{StoreColumn.SUBSCRIPTIONS, StoreColumn.QUEUES,
                StoreColumn.INFLIGHT, StoreColumn.QOS2_RECEIVED, StoreColumn.WILLS}) {
            committer.deleteRange(c, s.key, Keys.prefixEnd(s.key));
        }
        committer.delete(StoreColumn.SESSIONS, s.key);
    }

    private long storeProperty(String name) {
        storeLock.readLock().lock();
        try {
            synchronized (mutex) {
                if (closed) {
                    return -1;
                }
            }
            return store.longPropertySum(name);
        } finally {
            storeLock.readLock().unlock();
        }
    }

    /** Refreshes the per-session queue gauges with the sessions whose queues are longest now. */
    void sampleLargestQueues() {
        try {
            java.util.PriorityQueue<LargestQueues.Sample> top = new java.util.PriorityQueue<>(
                    java.util.Comparator.comparingLong(LargestQueues.Sample::messages));
            synchronized (mutex) {
                if (closed) {
                    return;
                }
                for (EngineSession s : sessions.values()) {
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
            synchronized (mutex) {
                if (closed) {
                    return;
                }
                long now = System.currentTimeMillis();
                for (EngineSession s : new ArrayList<>(sessions.values())) {
                    if (resetting) {
                        return; // an operation failed: nothing more is built on this image
                    }
                    if (s.isExpired(now) && !wills.holds(s.clientId)) {
                        log.info("session '{}' expired after {} s offline", s.clientId, s.expirySeconds);
                        guarded("expiry of session '" + s.clientId + "'", null, () -> discard(s, "session_expired"));
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
        synchronized (mutex) {
            wills.start(gate);
            if (!closed && !resetting) {
                releaseRecoveredWills();
            }
        }
    }

    private void releaseRecoveredWills() {
        long now = System.currentTimeMillis();
        wills.releaseRecovered(sessions, now);
        for (EngineSession s : new ArrayList<>(sessions.values())) {
            if (!s.isOnline() && (s.expirySeconds == 0 || s.isExpired(now))) {
                discard(s, "session_expired");
            }
        }
    }

    /** Routes a will under the lock; its sends wait for its batch (never under the lock, and never before it is durable). */
    private void routeWill(String originClientId, Message message, CompletableFuture<PublishResult> result) {
        List<Runnable> sends = new ArrayList<>();
        route(null, originClientId, 0, message, result, sends);
        runAfterDurable(sends);
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
        io.durablemq.engine.backup.StoreBackup.checkTarget(config.dataPath(), target);
        CompletableFuture<Void> barrier = new CompletableFuture<>();
        long messageIdsBelow;
        synchronized (mutex) {
            messageIdsBelow = nextMessageId;
            if (!failIfClosed(barrier)) {
                complete(barrier, null);
            }
        }
        io.durablemq.engine.backup.StoreBackup.awaitDurable(barrier, target);
        storeLock.readLock().lock();
        try {
            synchronized (mutex) {
                if (closed || resetting) {
                    throw new io.durablemq.engine.backup.BackupException(
                            io.durablemq.engine.backup.BackupException.Reason.UNAVAILABLE, target,
                            closed ? "the engine is closed" : "the engine is returning to its last durable state", null);
                }
            }
            return io.durablemq.engine.backup.StoreBackup.write(store, target, startedAt, t0, messageIdsBelow);
        } finally {
            storeLock.readLock().unlock();
        }
    }

    // ------------------------------------------------------------------ close

    @Override
    public void close() {
        List<SessionListener> toClose = new ArrayList<>();
        synchronized (mutex) {
            if (closed) {
                return;
            }
            for (EngineSession s : sessions.values()) {
                if (s.listener != null) {
                    toClose.add(s.listener);
                }
            }
        }
        for (SessionListener l : toClose) {
            l.onSessionClosed(SessionListener.CloseReason.ENGINE_CLOSED);
        }
        Committer last;
        synchronized (mutex) {
            closed = true;
            last = committer;
        }
        sweeper.shutdownNow();
        admission.close();
        wills.close();
        readAhead.close();
        backgroundCheck.cancel();
        last.close();
        storeLock.writeLock().lock();
        try {
            store.close();
        } finally {
            storeLock.writeLock().unlock();
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
            if (closed) {
                future.completeExceptionally(new SessionClosedException(s.clientId, "engine closed"));
                return false;
            }
            if (resetting) {
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
            synchronized (mutex) {
                if (closed || s.discarded || s.generation != generation || s.deliveryStarted) {
                    return;
                }
                s.deliveryStarted = true;
                guarded("start of delivery to '" + s.clientId + "'", null, () -> {
                List<Runnable> sends = new ArrayList<>();
                SessionListener listener = s.listener;
                for (InflightEntry e : s.inflight.values()) {
                    if (e.state() == InflightState.PUBLISH_SENT) {
                        sendAfterCommit(s, sends, sendAction(s, e.packetId(), e.messageId(), e.qos(), true,
                                e.retain(), e.subscriptionIds()));
                        metrics.redelivered();
                    } else {
                        int id = e.packetId();
                        sendAfterCommit(s, sends, () -> listener.onPubrel(id));
                    }
                }
                pump(s, sends, immediate);
                runAfterDurable(sends);
                });
            }
            immediate.forEach(Runnable::run);
        }

        @Override
        public CompletableFuture<PublishResult> publish(int packetId, Message message) {
            CompletableFuture<PublishResult> future = new CompletableFuture<>();
            List<Runnable> immediate = new ArrayList<>();
            synchronized (mutex) {
                if (!valid(future)) {
                    return future;
                }
                long routeStart = System.nanoTime();
                guarded("publish of '" + s.clientId + "' to '" + message.topic() + "'", future,
                        () -> route(s, s.clientId, packetId, message, future, immediate));
                if (message.qos() > 0) {
                    stages.record(StageTimers.Stage.ROUTE, System.nanoTime() - routeStart);
                }
            }
            immediate.forEach(Runnable::run);
            return future;
        }

        @Override
        public CompletableFuture<Void> release(int packetId) {
            CompletableFuture<Void> future = new CompletableFuture<>();
            synchronized (mutex) {
                if (!valid(future)) {
                    return future;
                }
                guarded("PUBREL " + packetId + " of '" + s.clientId + "'", future, () -> {
                if (s.qos2Received.remove(packetId)) {
                    committer.delete(StoreColumn.QOS2_RECEIVED, Keys.packet(s.key, packetId));
                }
                complete(future, null);
                });
            }
            return future;
        }

        @Override
        public CompletableFuture<SubscribeResult> subscribe(List<Subscription> subscriptions) {
            CompletableFuture<SubscribeResult> future = new CompletableFuture<>();
            List<Runnable> immediate = new ArrayList<>();
            synchronized (mutex) {
                if (!valid(future)) {
                    return future;
                }
                guarded("subscribe of '" + s.clientId + "'", future, () -> {
                List<Integer> granted = new ArrayList<>(subscriptions.size());
                long now = System.currentTimeMillis();
                for (Subscription sub : subscriptions) {
                    if (!TopicFilter.isValidFilter(sub.filter())) {
                        granted.add(SubscribeResult.REJECTED);
                        continue;
                    }
                    SubscriptionOptions o = sub.options();
                    if (!s.subscriptions.containsKey(sub.filter())
                            && s.subscriptions.size() >= config.maxSubscriptionsPerSession()) {
                        log.warn("client '{}' is at its limit of {} subscriptions: refused '{}'",
                                s.clientId, config.maxSubscriptionsPerSession(), sub.filter());
                        granted.add(SubscribeResult.QUOTA_EXCEEDED);
                        continue;
                    }
                    boolean existed = s.subscriptions.put(sub.filter(), o) != null;
                    index.add(s.clientId, sub.filter(), o);
                    committer.put(StoreColumn.SUBSCRIPTIONS, Keys.subscription(s.key, sub.filter()),
                            SubscriptionCodec.encode(o));
                    granted.add(o.maxQos());
                    boolean shared = TopicFilter.parseShared(sub.filter()) != null;
                    if (!shared && (o.retainHandling() == 0 || (o.retainHandling() == 1 && !existed))) {
                        queueRetained(sub.filter(), o, now);
                    }
                }
                unwrittenMarks.registerOn(committer);
                complete(future, new SubscribeResult(granted));
                List<Runnable> sends = new ArrayList<>();
                pump(s, sends, immediate);
                runAfterDurable(sends);
                });
            }
            immediate.forEach(Runnable::run);
            return future;
        }

        /** Retained messages go through the queue like any other, flagged RETAIN. */
        private void queueRetained(String filter, SubscriptionOptions o, long now) {
            for (Message m : retained.values()) {
                if (!TopicFilter.matches(filter, m.topic()) || m.isExpired(now)) {
                    continue;
                }
                int size = m.sizeEstimate();
                if (wouldOverflow(s, size)) {
                    metrics.dropped("queue_full");
                    continue;
                }
                long id = storeBody(m);
                int[] ids = o.subscriptionId() > 0 ? new int[]{o.subscriptionId()} : new int[0];
                enqueue(s, new QueueEntry(s.queue.takeSeq(), id, Math.min(m.qos(), o.maxQos()), true,
                        m.expiresAtMillis(), now, size, ids, true)); // its own body: the only reference
                refs.routed(id, 1, committer);
            }
        }

        @Override
        public CompletableFuture<List<Boolean>> unsubscribe(List<String> filters) {
            CompletableFuture<List<Boolean>> future = new CompletableFuture<>();
            synchronized (mutex) {
                if (!valid(future)) {
                    return future;
                }
                guarded("unsubscribe of '" + s.clientId + "'", future, () -> {
                List<Boolean> existed = new ArrayList<>(filters.size());
                for (String f : filters) {
                    boolean had = s.subscriptions.remove(f) != null;
                    if (had) {
                        index.remove(s.clientId, f);
                        committer.delete(StoreColumn.SUBSCRIPTIONS, Keys.subscription(s.key, f));
                    }
                    existed.add(had);
                }
                complete(future, existed);
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
            synchronized (mutex) {
                if (!valid(future)) {
                    return future;
                }
                guarded(ack + " " + packetId + " of '" + s.clientId + "'", future, () -> {
                List<Runnable> sends = new ArrayList<>();
                InflightEntry e = s.inflight.get(packetId);
                InflightState.Step step = e == null ? InflightState.Step.IGNORE : e.state().on(ack, e.qos());
                SessionListener listener = s.listener;
                switch (step) {
                    case COMPLETE -> {
                        finishInflight(e);
                        metrics.acknowledged(e.qos(), System.currentTimeMillis() - e.enqueuedAtMillis());
                        pump(s, sends, immediate);
                    }
                    case TO_PUBREL_SENT -> {
                        InflightEntry released = e.released();
                        s.inflight.put(packetId, released);
                        committer.put(StoreColumn.INFLIGHT, Keys.packet(s.key, packetId), released.encodeValue());
                        releaseBody(e.messageId(), e.soleReference());
                        sendAfterCommit(s, sends, () -> listener.onPubrel(packetId));
                    }
                    case RESEND_PUBREL -> sendAfterCommit(s, sends, () -> listener.onPubrel(packetId));
                    case IGNORE -> log.debug("client '{}' sent {} for packet id {} in state {}: ignored",
                            s.clientId, ack, packetId, e == null ? "none" : e.state());
                }
                runAfterDurable(sends);
                complete(future, null);
                });
            }
            immediate.forEach(Runnable::run);
            return future;
        }

        private void finishInflight(InflightEntry e) {
            s.inflight.remove(e.packetId());
            inflightMessages--;
            committer.delete(StoreColumn.INFLIGHT, Keys.packet(s.key, e.packetId()));
            if (e.messageId() != 0) {
                releaseBody(e.messageId(), e.soleReference());
            }
        }

        @Override
        public CompletableFuture<Void> discard(int packetId, String reason) {
            CompletableFuture<Void> future = new CompletableFuture<>();
            List<Runnable> immediate = new ArrayList<>();
            synchronized (mutex) {
                if (!valid(future)) {
                    return future;
                }
                guarded("discard of " + packetId + " for '" + s.clientId + "'", future, () -> {
                InflightEntry e = s.inflight.get(packetId);
                if (e != null) {
                    finishInflight(e);
                    metrics.dropped(reason);
                    List<Runnable> sends = new ArrayList<>();
                    pump(s, sends, immediate);
                    runAfterDurable(sends);
                }
                complete(future, null);
                });
            }
            immediate.forEach(Runnable::run);
            return future;
        }

        @Override
        public CompletableFuture<Void> disconnect(long sessionExpirySeconds, io.durablemq.engine.session.WillAtEnd willAtEnd) {
            CompletableFuture<Void> future = new CompletableFuture<>();
            synchronized (mutex) {
                if (closed || s.discarded || s.generation != generation) {
                    future.complete(null); // taken over or already gone: nothing of ours to end
                    return future;
                }
                guarded("disconnect of '" + s.clientId + "'", future, () -> {
                goOffline(s, System.currentTimeMillis());
                if (sessionExpirySeconds >= 0) {
                    s.expirySeconds = Math.min(sessionExpirySeconds, config.maxSessionExpirySeconds());
                }
                wills.settleAtDisconnect(s, willAtEnd, s.disconnectedAtMillis);
                if (s.expirySeconds == 0) {
                    Engine.this.discard(s, "session_discarded");
                } else {
                    committer.putOncePerBatch(StoreColumn.SESSIONS, s.key, s.record().encode()); // once per batch: see Committer
                }
                complete(future, null);
                });
            }
            return future;
        }
    }

    // ------------------------------------------------------------------ stats

    private final class Stats implements EngineStats {
        @Override
        public long queuedMessages() {
            synchronized (mutex) {
                return queuedMessages;
            }
        }

        @Override
        public long queuedBytes() {
            synchronized (mutex) {
                return queuedBytes;
            }
        }

        @Override
        public long inflightMessages() {
            synchronized (mutex) {
                return inflightMessages;
            }
        }

        @Override
        public long onlineSessions() {
            synchronized (mutex) {
                return onlineSessions;
            }
        }

        @Override
        public long offlineSessions() {
            synchronized (mutex) {
                return sessions.size() - onlineSessions;
            }
        }

        @Override
        public long storedBodies() {
            synchronized (mutex) {
                return refs.storedBodies();
            }
        }

        @Override
        public long retainedMessages() {
            synchronized (mutex) {
                return retained.size();
            }
        }

        @Override
        public long storeSizeBytes() {
            storeLock.readLock().lock();
            try {
                synchronized (mutex) {
                    if (closed) {
                        return 0;
                    }
                }
                return store.sizeOnDisk();
            } catch (java.io.UncheckedIOException e) {
                return 0;
            } finally {
                storeLock.readLock().unlock();
            }
        }
    }
}
