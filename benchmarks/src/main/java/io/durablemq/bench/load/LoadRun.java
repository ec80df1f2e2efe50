package io.durablemq.bench.load;

import io.durablemq.bench.load.client.LoadClient;
import io.durablemq.bench.load.client.LoadClient.SessionMode;
import io.durablemq.bench.report.LoadReport;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * Runs one load scenario against a broker and measures it. Every wait is bounded, so a run
 * ends by itself even when the broker stalls or goes away.
 */
public final class LoadRun {

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(15);
    private static final Duration DISCONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    private final LoadConfig config;
    private final PrintStream progressOut;
    private final String runId = Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xFF_FFFF_FFFFL);
    private final String topicPrefix = "dmqbench/" + runId;
    private final DeliveryLedger ledger;
    private final LatencyStats latency = new LatencyStats();
    /** How late the tool sent each measured message after its intended time (rate-limited runs). */
    private final LatencyStats sendLag = new LatencyStats();
    private final ErrorLog errors = new ErrorLog();

    private final LongAdder sent = new LongAdder();
    private final LongAdder sentMeasured = new LongAdder();
    private final LongAdder acknowledged = new LongAdder();
    private final LongAdder acknowledgedMeasured = new LongAdder();
    private final LongAdder publishErrors = new LongAdder();
    private final LongAdder received = new LongAdder();
    private final LongAdder receivedMeasured = new LongAdder();
    private final AtomicLong lastAckNanos = new AtomicLong();
    private final AtomicLong lastReceiveNanos = new AtomicLong();
    private final LongAdder publishersAtCount = new LongAdder();

    private volatile long measureFromNanos = Long.MAX_VALUE;
    private Semaphore[] windows;
    private volatile boolean stopPublishing;
    private volatile String phase = "connect";

    public LoadRun(LoadConfig config, PrintStream progressOut) {
        this.config = config;
        this.progressOut = progressOut;
        this.ledger = new DeliveryLedger(config.scenario(), config.publishers(), config.subscribers());
    }

    public LoadReport run() throws InterruptedException {
        Instant startedAt = Instant.now();
        List<LoadClient> subscribers = new ArrayList<>();
        List<LoadClient> publishers = new ArrayList<>();
        List<Thread> publisherThreads = new ArrayList<>();
        boolean backlog = config.scenario().subscribersOfflineWhilePublishing();
        SessionMode subscriberMode = backlog ? SessionMode.PERSISTENT_NEW : SessionMode.CLEAN;
        var executors = LoadClient.executors(config.ioThreads(), config.callbacks());
        String publishStoppedBy;
        String deliveryWait;
        long publishStopNanos;
        long drainStartNanos = 0;

        try (ProgressPrinter progress = new ProgressPrinter(progressOut, () -> phase, sent::sum, acknowledged::sum,
                received::sum, publishErrors::sum, latency)) {
            try {
                for (int s = 0; s < config.subscribers(); s++) {
                    int subscriber = s;
                    subscribers.add(LoadClient.create(config.mqttVersion(), config.broker(),
                            "dmqb-" + runId + "-s" + s, executors, body -> onMessage(subscriber, body)));
                }
                for (int p = 0; p < config.publishers(); p++) {
                    publishers.add(LoadClient.create(config.mqttVersion(), config.broker(),
                            "dmqb-" + runId + "-p" + p, executors, body -> { }));
                }
                awaitAll("connect subscriber", subscribers, c -> c.connect(subscriberMode));
                List<CompletableFuture<Void>> subscriptions = new ArrayList<>();
                for (int s = 0; s < subscribers.size(); s++) {
                    subscriptions.add(subscribers.get(s).subscribe(config.scenario().subscriberFilter(topicPrefix, s), config.qos()));
                }
                await("subscribe", subscriptions, CONNECT_TIMEOUT);
                if (backlog) {
                    awaitAll("disconnect subscriber", subscribers, c -> c.disconnect(false));
                }
                awaitAll("connect publisher", publishers, c -> c.connect(SessionMode.CLEAN));

                progress.start();
                long startNanos = System.nanoTime();
                measureFromNanos = startNanos + config.warmup().toNanos();
                long deadlineNanos = measureFromNanos + config.duration().toNanos();
                phase = config.warmup().isZero() ? "publish" : "warmup";
                publisherThreads.addAll(startPublishing(publishers, startNanos));
                publishStoppedBy = waitForPublishers(publisherThreads, deadlineNanos);
                publishStopNanos = System.nanoTime();

                phase = "acks";
                awaitCondition(() -> acknowledged.sum() + publishErrors.sum() >= sent.sum(),
                        System.nanoTime() + config.drainTimeout().toNanos(), Long.MAX_VALUE);

                phase = "drain";
                long waitStart = System.nanoTime();
                if (backlog) {
                    drainStartNanos = waitStart;
                    lastReceiveNanos.set(waitStart);
                    awaitAll("reconnect subscriber", subscribers, c -> c.connect(SessionMode.PERSISTENT_RESUME));
                }
                lastReceiveNanos.accumulateAndGet(waitStart, Math::max);
                deliveryWait = awaitCondition(() -> ledger.distinctReceived() >= ledger.expected(),
                        waitStart + config.drainTimeout().toNanos(), config.idleTimeout().toNanos());
            } finally {
                stopPublishing = true;
                for (Thread t : publisherThreads) {
                    t.join(TimeUnit.SECONDS.toMillis(5));
                }
                phase = "close";
                closeAll(subscribers);
                closeAll(publishers);
            }
        }
        return report(startedAt, publishStoppedBy, deliveryWait, publishStopNanos, drainStartNanos);
    }

    /**
     * Starts the publishing threads: without a rate one per publisher, each as fast as its window
     * allows; with a rate the {@link Pacer}s, one for all publishers ({@link Pacing#SCHEDULER}) or
     * one per publisher ({@link Pacing#THREADS}).
     */
    private List<Thread> startPublishing(List<LoadClient> clients, long startNanos) {
        windows = new Semaphore[clients.size()];
        for (int p = 0; p < windows.length; p++) {
            windows[p] = new Semaphore(config.window());
        }
        List<Runnable> loops = new ArrayList<>();
        if (config.rate() == 0) {
            for (int p = 0; p < clients.size(); p++) {
                int publisher = p;
                loops.add(() -> unlimitedLoop(publisher, clients.get(publisher)));
            }
        } else {
            SendSchedule schedule = config.schedule(startNanos);
            if (config.pacing() == Pacing.SCHEDULER) {
                loops.add(() -> pacedLoop(schedule, java.util.stream.IntStream.range(0, clients.size()).toArray(), clients));
            } else {
                for (int p = 0; p < clients.size(); p++) {
                    int[] one = {p};
                    loops.add(() -> pacedLoop(schedule, one, clients));
                }
            }
        }
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < loops.size(); i++) {
            Thread t = new Thread(loops.get(i), (config.rate() == 0 ? "loadgen-publisher-" : "loadgen-pacer-") + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        return threads;
    }

    private void pacedLoop(SendSchedule schedule, int[] served, List<LoadClient> clients) {
        long limit = config.count() == 0 ? Long.MAX_VALUE : config.count();
        Pacer pacer = new Pacer(schedule, served, limit, config.spinNanos(), Pacer.Clock.SYSTEM, () -> stopPublishing);
        try {
            if (pacer.run((publisher, seq, intended) -> {
                if (!acquireWindow(publisher)) {
                    return false;
                }
                // Stamped with the intended send time, so a broker (or this tool) that falls behind
                // the rate shows the backlog as latency instead of hiding it (coordinated omission).
                // How late the tool itself was is recorded apart, as the send lag.
                if (intended >= measureFromNanos) {
                    sendLag.record(System.nanoTime() - intended);
                }
                publish(publisher, clients.get(publisher), seq, intended);
                return true;
            })) {
                publishersAtCount.add(served.length);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void unlimitedLoop(int publisher, LoadClient client) {
        long limit = config.count() == 0 ? Long.MAX_VALUE : config.count();
        long sequence = 0;
        try {
            while (sequence < limit && acquireWindow(publisher)) {
                publish(publisher, client, sequence++, System.nanoTime());
            }
            if (sequence >= limit) {
                publishersAtCount.increment();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits for a free slot in the publisher's window; false when publishing stops meanwhile. */
    private boolean acquireWindow(int publisher) throws InterruptedException {
        while (!stopPublishing) {
            if (windows[publisher].tryAcquire(50, TimeUnit.MILLISECONDS)) {
                return true;
            }
        }
        return false;
    }

    /** Publishes one message stamped {@code stamp}; its window slot is already taken. */
    private void publish(int publisher, LoadClient client, long seq, long stamp) {
        String topic = config.scenario().publisherTopic(topicPrefix, publisher);
        if (phase.equals("warmup") && stamp >= measureFromNanos) {
            phase = "publish";
        }
        boolean measured = stamp >= measureFromNanos;
        sent.increment();
        if (measured) {
            sentMeasured.increment();
        }
        CompletableFuture<Void> done;
        try {
            done = client.publish(topic, Payloads.encode(publisher, seq, stamp, config.payloadBytes()), config.qos());
        } catch (RuntimeException e) {
            done = CompletableFuture.failedFuture(e);
        }
        Semaphore window = windows[publisher];
        done.whenComplete((ok, error) -> {
            window.release();
            if (error == null) {
                ledger.confirmed(publisher, seq);
                acknowledged.increment();
                if (measured) {
                    acknowledgedMeasured.increment();
                }
                lastAckNanos.accumulateAndGet(System.nanoTime(), Math::max);
            } else {
                publishErrors.increment();
                errors.add("publish", error);
            }
        });
    }

    private void onMessage(int subscriber, ByteBuffer body) {
        Payloads.Stamp stamp = Payloads.decode(body);
        if (stamp == null) {
            return;
        }
        long now = System.nanoTime();
        lastReceiveNanos.accumulateAndGet(now, Math::max);
        if (ledger.received(subscriber, stamp.publisher(), stamp.sequence())) {
            received.increment();
            if (stamp.sentNanos() >= measureFromNanos) {
                receivedMeasured.increment();
                latency.record(now - stamp.sentNanos());
            }
        }
    }

    private String waitForPublishers(List<Thread> threads, long deadlineNanos) throws InterruptedException {
        for (Thread t : threads) {
            long left = deadlineNanos - System.nanoTime();
            if (left > 0) {
                TimeUnit.NANOSECONDS.timedJoin(t, left);
            }
        }
        stopPublishing = true;
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(10));
        }
        if (config.count() == 0) {
            return "duration";
        }
        return publishersAtCount.sum() == config.publishers() ? "count" : "time-limit";
    }

    /**
     * Polls until {@code done}; gives up at {@code deadlineNanos}, or after {@code idleNanos}
     * without a delivery.
     */
    private String awaitCondition(java.util.function.BooleanSupplier done, long deadlineNanos, long idleNanos)
            throws InterruptedException {
        while (!done.getAsBoolean()) {
            long now = System.nanoTime();
            if (now - deadlineNanos >= 0) {
                return "drain-timeout";
            }
            if (now - lastReceiveNanos.get() >= idleNanos) {
                return "idle-timeout";
            }
            LockSupport.parkNanos(POLL_NANOS);
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
        return "complete";
    }

    private void awaitAll(String what, List<LoadClient> clients, Function<LoadClient, CompletableFuture<Void>> action)
            throws InterruptedException {
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        for (LoadClient c : clients) {
            futures.add(action.apply(c));
        }
        await(what, futures, CONNECT_TIMEOUT);
    }

    private void await(String what, List<CompletableFuture<Void>> futures, Duration timeout) throws InterruptedException {
        try {
            CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new LoadRunException("could not " + what + " at " + config.broker() + ": "
                    + ErrorLog.describe(e), e.getCause());
        } catch (TimeoutException e) {
            throw new LoadRunException("could not " + what + " at " + config.broker() + " within "
                    + timeout.toSeconds() + " s", e);
        }
    }

    private void closeAll(List<LoadClient> clients) throws InterruptedException {
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        for (LoadClient c : clients) {
            try {
                futures.add(c.disconnect(true).exceptionally(e -> null));
            } catch (RuntimeException e) {
                // Not connected (a connect failed earlier): nothing to close.
            }
        }
        try {
            CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new))
                    .get(DISCONNECT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            errors.add("disconnect", e);
        }
    }

    private LoadReport report(Instant startedAt, String publishStoppedBy, String deliveryWait,
                              long publishStopNanos, long drainStartNanos) {
        boolean backlog = config.scenario().subscribersOfflineWhilePublishing();
        double publishSeconds = seconds(publishStopNanos - measureFromNanos);
        double ackSeconds = seconds(lastAckNanos.get() - measureFromNanos);
        long expected = ledger.expected();
        long distinct = ledger.distinctReceived();
        double receivedPerSecond;
        LoadReport.Backlog backlogResult = null;
        if (backlog) {
            double drainSeconds = seconds(lastReceiveNanos.get() - drainStartNanos);
            receivedPerSecond = rate(distinct, drainSeconds);
            backlogResult = new LoadReport.Backlog(acknowledged.sum(), round(drainSeconds), receivedPerSecond);
        } else {
            receivedPerSecond = rate(receivedMeasured.sum(), seconds(lastReceiveNanos.get() - measureFromNanos));
        }
        LoadReport.Results results = new LoadReport.Results(round(publishSeconds), publishStoppedBy, deliveryWait,
                sent.sum(), acknowledged.sum(), publishErrors.sum(), expected, distinct, ledger.lost(),
                ledger.duplicates(), ledger.unexpected(), rate(sentMeasured.sum(), publishSeconds),
                rate(acknowledgedMeasured.sum(), ackSeconds), receivedPerSecond);
        return new LoadReport(LoadReport.TOOL, config.label(), startedAt.toString(), config.broker().toString(),
                config.scenario().id(), config.mqttVersion(), config.qos(), config.payloadBytes(), config.publishers(),
                config.subscribers(), config.window(), config.ioThreads(), config.rate(), config.warmup().toMillis() / 1000.0,
                config.duration().toMillis() / 1000.0, config.count(), results,
                LoadReport.Latency.of(latency.total()), backlogResult, errors.summary(),
                config.rate() == 0 ? null : new LoadReport.SendPacing(config.pacing().id(), config.phase().id(),
                        config.spinNanos() / 1000, LoadReport.Latency.of(sendLag.total())),
                config.callbacks().id());
    }

    private static double seconds(long nanos) {
        return Math.max(0, nanos) / 1e9;
    }

    private static double rate(long count, double seconds) {
        return seconds <= 0 ? 0 : round(count / seconds);
    }

    private static double round(double value) {
        return Math.round(value * 1000.0) / 1000.0;
    }
}
