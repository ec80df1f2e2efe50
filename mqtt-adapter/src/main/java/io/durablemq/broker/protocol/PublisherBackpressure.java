package io.durablemq.broker.protocol;

import io.durablemq.broker.config.BackpressureLimits;
import io.durablemq.engine.Engine;
import io.durablemq.engine.delivery.SubscriberBacklog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.Channel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Back-pressure from slow online subscribers to their publishers, by the protocol's own means:
 * the broker stops reading a publisher's socket (Netty auto-read off), so its TCP window and then
 * its own in-flight window fill and it stops sending, instead of the subscriber's queue growing
 * without bound.
 *
 * <p>A publisher is paused when the engine reports that a publish of its was just queued for an
 * online subscriber (never the publisher's own session, see the engine's {@code DeepestBacklog})
 * holding at least the high watermark of queued messages. It is read again when that subscriber
 * holds fewer than the low watermark, goes offline (its queue is then an offline queue, bounded by
 * the queue limits as before), when the publisher's connection closes, or after
 * {@code backpressure_max_pause_ms}: a bound that keeps two clients which each wait on the other
 * (a paused client cannot send the acknowledgements that would drain its own queue) from
 * stopping for good.
 *
 * <p>Watching is polling, on one daemon thread, only while some publisher is paused: every
 * {@link #POLL_MICROS} it asks the engine for the queue length of each subscriber waited on (one
 * short lock per subscriber, no copy). Polling keeps the engine free of callbacks into the
 * broker; its cost is nil while nothing is paused. Pause and resume both change auto-read on the
 * channel's event loop, so a resume never undoes a newer pause.
 */
final class PublisherBackpressure implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PublisherBackpressure.class);
    /** Short against the time a subscriber needs to drain from high to low watermark (hundreds of messages). */
    static final long POLL_MICROS = 2_000;

    /** Why a paused publisher was read again; one counter series each. */
    enum ResumeReason { DRAINED, OFFLINE, MAX_PAUSE, CLOSED }

    private record Pause(String subscriber, long sinceNanos) {
    }

    private final Engine engine;
    private final BackpressureLimits limits;
    private final Map<Channel, Pause> paused = new ConcurrentHashMap<>();
    private final AtomicBoolean polling = new AtomicBoolean();
    private final ScheduledExecutorService poller;
    private final Counter pauses;
    private final Map<ResumeReason, Counter> resumes = new HashMap<>();

    PublisherBackpressure(Engine engine, BackpressureLimits limits, MeterRegistry registry) {
        this.engine = engine;
        this.limits = limits;
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "durablemq-backpressure");
            t.setDaemon(true);
            return t;
        });
        executor.setRemoveOnCancelPolicy(true);
        this.poller = executor;
        Gauge.builder("durablemq.publishers.throttled", paused, Map::size)
                .description("Publishers whose sockets are not read now because a subscriber they publish to is over its high watermark")
                .register(registry);
        this.pauses = Counter.builder("durablemq.publisher.pauses")
                .description("Times a publisher's socket stopped being read for a slow subscriber")
                .register(registry);
        for (ResumeReason reason : ResumeReason.values()) {
            resumes.put(reason, Counter.builder("durablemq.publisher.resumes")
                    .description("Times a paused publisher was read again, by why")
                    .tag("reason", reason.name().toLowerCase(java.util.Locale.ROOT))
                    .register(registry));
        }
    }

    /**
     * A publish of the client on {@code channel} was routed; pauses it if {@code backlog} is over
     * the high watermark. Called on the channel's event loop.
     */
    void routed(Channel channel, SubscriberBacklog backlog) {
        if (!limits.enabled() || backlog == null || backlog.queuedMessages() < limits.highWatermark()
                || !channel.isActive()) {
            return;
        }
        if (paused.putIfAbsent(channel, new Pause(backlog.clientId(), System.nanoTime())) == null) {
            channel.config().setAutoRead(false);
            pauses.increment();
            LOG.debug("paused reading from {}: subscriber {} holds {} queued messages", channel.remoteAddress(),
                    backlog.clientId(), backlog.queuedMessages());
            startPolling();
        }
    }

    /** Whether the broker is not reading this connection now (its keep-alive silence is then the broker's doing). */
    boolean isPaused(Channel channel) {
        return paused.containsKey(channel);
    }

    private void startPolling() {
        if (polling.compareAndSet(false, true)) {
            try {
                poller.schedule(this::poll, POLL_MICROS, TimeUnit.MICROSECONDS);
            } catch (RejectedExecutionException e) {
                polling.set(false); // closed: the broker is stopping and every channel closes anyway
            }
        }
    }

    private void poll() {
        try {
            long now = System.nanoTime();
            Map<String, Integer> depths = new HashMap<>();
            paused.forEach((channel, pause) -> {
                ResumeReason reason = resumeReason(channel, pause, now, depths);
                if (reason != null && paused.remove(channel, pause)) {
                    resumes.get(reason).increment();
                    resume(channel);
                }
            });
        } catch (RuntimeException e) {
            LOG.warn("back-pressure poll failed; paused publishers resume at their maximum pause", e);
        } finally {
            polling.set(false);
            if (!paused.isEmpty()) {
                startPolling();
            }
        }
    }

    private ResumeReason resumeReason(Channel channel, Pause pause, long now, Map<String, Integer> depths) {
        if (!channel.isActive()) {
            return ResumeReason.CLOSED;
        }
        int depth = depths.computeIfAbsent(pause.subscriber(), engine::onlineQueuedMessages);
        if (depth < 0) {
            return ResumeReason.OFFLINE;
        }
        if (depth < limits.lowWatermark()) {
            return ResumeReason.DRAINED;
        }
        if (now - pause.sinceNanos() >= limits.maxPause().toNanos()) {
            return ResumeReason.MAX_PAUSE;
        }
        return null;
    }

    /** On the event loop, and only if no newer pause of the same channel came in meanwhile. */
    private void resume(Channel channel) {
        try {
            channel.eventLoop().execute(() -> {
                if (!paused.containsKey(channel) && channel.isActive()) {
                    channel.config().setAutoRead(true);
                }
            });
        } catch (RejectedExecutionException e) {
            LOG.debug("event loop gone, not resuming {}", channel.remoteAddress());
        }
    }

    @Override
    public void close() {
        poller.shutdownNow();
    }
}
