package io.durablemq.engine;

import io.durablemq.engine.delivery.InflightState;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.guard.Admission;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.metrics.EngineStats;
import io.durablemq.engine.metrics.LargestQueues;
import io.durablemq.engine.metrics.StoreMetrics;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreOpenException;
import io.durablemq.engine.will.StoredWill;
import io.durablemq.engine.will.WillGate;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
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
 *
 * <p>This class is the public facade; the work is done by package-private collaborators that
 * share {@link EngineState} (the lock and the image): {@link SessionLifecycle} (connect,
 * offline, expiry, discard) and the handles it makes ({@link EngineSessionHandle}),
 * {@link PublishRouting}, {@link SessionDelivery}, {@link ImageRebuild} (recovery and the reset
 * after a failure) and {@link OperationGuard} (each operation whole or not at all).
 */
public final class Engine implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Engine.class);

    private final EngineState st;
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
    private final SessionLifecycle sessions;
    private final ImageRebuild rebuild;

    private Engine(EngineConfig config, Store store, MeterRegistry meters, io.durablemq.engine.store.BatchLog batchLog) {
        this.st = new EngineState(config, store, meters);
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "durablemq-sweeper");
            t.setDaemon(true);
            return t;
        });
        this.guard = new OperationGuard(st, sweeper);
        this.largestQueues = new LargestQueues(meters);
        this.backgroundCheck = new io.durablemq.engine.check.BackgroundCheck(meters,
                Long.getLong("durablemq.backgroundCheck.windowIds", io.durablemq.engine.check.BackgroundCheck.DEFAULT_WINDOW_IDS));
        this.admission = Admission.start(config.admission(), config.dataPath(), meters, st.stats::queuedBytes);
        StoreMetrics.register(meters, this::storeProperty);
        this.delivery = new SessionDelivery(st, guard);
        this.routing = new PublishRouting(st, guard, delivery, admission);
        this.wills = new WillLifecycle(st.partitions::lockAll, () -> st.committer, routing::routeWill,
                () -> !st.closed && !st.resetting, (what, body) -> guard.guarded(what, null, body));
        this.sessions = new SessionLifecycle(st, guard, routing, delivery, wills);
        this.rebuild = new ImageRebuild(st, sessions, wills, backgroundCheck, sweeper, batchLog);
        guard.resetBy(rebuild);
        rebuild.startCommitter();
    }

    /** Opens (or creates) the store in {@code config.dataPath()} and recovers its state. */
    public static Engine open(EngineConfig config, MeterRegistry meters) throws StoreOpenException {
        return open(config, meters, io.durablemq.engine.store.BatchLog.LOCAL);
    }

    /** Like {@link #open(EngineConfig, MeterRegistry)}, committing through {@code batchLog} (a cluster's replicated log). */
    public static Engine open(EngineConfig config, MeterRegistry meters, io.durablemq.engine.store.BatchLog batchLog)
            throws StoreOpenException {
        return open(config, meters, batchLog, Store.open(config.dataPath(), config.durability()));
    }

    /** Like the above, recovering from {@code store}, already open on {@code config.dataPath()} (a cluster follower's handle); closes it on failure. */
    public static Engine open(EngineConfig config, MeterRegistry meters, io.durablemq.engine.store.BatchLog batchLog, Store store)
            throws StoreOpenException {
        io.durablemq.engine.store.StoreHandover.check(config.dataPath(), store); // a reset reopens config.dataPath()
        Engine engine = new Engine(config, store, meters, batchLog);
        try {
            io.durablemq.engine.queue.QueueCountersUpgrade.upgradeIfNeeded(store);
            engine.rebuild.recover();
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
        engine.sweeper.scheduleWithFixedDelay(engine.sessions::sweepExpiredSessions, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
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
        return st.recoveryReport; // volatile: set once per recovery
    }

    /** The state of one session, or null if there is none. */
    public SessionSnapshot session(String clientId) {
        try (PartitionLocks.Held held = st.partitions.lockFor(clientId)) {
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
        try (PartitionLocks.Held held = st.partitions.lockFor(clientId)) {
            EngineSession s = st.sessions.get(clientId);
            return s == null || !s.isOnline() ? -1 : (int) Math.min(Integer.MAX_VALUE, s.queue.messages());
        }
    }

    public EngineStats stats() {
        return st.stats;
    }

    public boolean isCommitting() {
        return !st.closed && !st.resetting && !st.committer.isFailed(); // volatile fields: no partition lock
    }

    /**
     * True while new QoS 1/2 publishes are refused for the whole broker: the queued bytes are
     * past {@code max_total_queued_bytes} (until they drain below 90 % of it) or the heap after
     * garbage collection is above the heap guard. The broker's {@code /ready} answers 503 meanwhile.
     */
    public boolean isRefusingPublishes() {
        return admission.isRefusing();
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
        return sessions.connect(request, listener, will);
    }

    // ------------------------------------------------------------------ publish

    /**
     * Publishes on behalf of the broker (will messages, system topics): routed like a client's
     * publish, with {@code originClientId} used for no-local, and never deduplicated.
     */
    public CompletableFuture<PublishResult> publish(String originClientId, Message message) {
        CompletableFuture<PublishResult> future = new CompletableFuture<>();
        List<Runnable> immediate = new ArrayList<>();
        PreparedPublish prepared = PreparedPublish.of(st.index, message); // before the lock (PreparedPublish)
        // The origin's partition (no-local is its session's) and the targets' (PublishLocks).
        long base = PartitionLocks.bit(originClientId == null ? 0 : st.partitions.of(originClientId).index);
        try (PublishLocks.Locked locked = sessions.publishLocks().lock(base, prepared, message)) {
            if (guard.failIfClosed(future)) {
                return future;
            }
            Map<String, EngineSession> visible = st.partitions.visible(locked.held());
            guard.guarded("publish to '" + message.topic() + "'", future,
                    () -> routing.route(null, originClientId, 0, message, locked.prepared(), future, immediate, visible));
        }
        immediate.forEach(Runnable::run);
        return future;
    }

    // ------------------------------------------------------------------ metrics

    private long storeProperty(String name) {
        st.storeLock.readLock().lock();
        try {
            if (st.closed) { // volatile; the store lock's read side keeps close from closing the store under us
                return -1;
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
            try (PartitionLocks.Held held = st.partitions.lockAll()) {
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

    // ------------------------------------------------------------------ wills

    /**
     * Lets wills fire: the ones recovery found are sent if due (after a crash, a connected
     * client's connection ended at the restart) or scheduled at their due time, and sessions
     * that ended while their will was held are discarded. The broker calls this just before it
     * serves, with its publish ACL: a will is checked against it when it fires.
     */
    public void startWills(WillGate gate) {
        try (PartitionLocks.Held held = st.partitions.lockAll()) {
            wills.start(gate);
            if (!st.closed && !st.resetting) {
                sessions.releaseRecoveredWills();
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
        try (PartitionLocks.Held held = st.partitions.lockAll()) {
            messageIdsBelow = st.messageIds.peek();
            if (!guard.failIfClosed(barrier)) {
                guard.complete(barrier, null);
            }
        }
        io.durablemq.engine.backup.StoreBackup.awaitDurable(barrier, target);
        st.storeLock.readLock().lock();
        try {
            // closed and resetting are volatile: no partition lock (the store lock's read side is held)
            if (st.closed || st.resetting) {
                throw new io.durablemq.engine.backup.BackupException(
                        io.durablemq.engine.backup.BackupException.Reason.UNAVAILABLE, target,
                        st.closed ? "the engine is closed" : "the engine is returning to its last durable state", null);
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
        try (PartitionLocks.Held held = st.partitions.lockAll()) {
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
        try (PartitionLocks.Held held = st.partitions.lockAll()) {
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
}
