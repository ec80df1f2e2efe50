package io.durablemq.broker.protocol;

import io.durablemq.broker.config.Limits;
import io.durablemq.broker.interceptor.InterceptorBus;
import io.durablemq.broker.metrics.BrokerMetrics;
import io.durablemq.broker.security.AccessControl;
import io.durablemq.engine.Engine;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * What every connection of one broker shares: the engine, the limits, security, interceptors,
 * metrics, will scheduling, and the set of open channels (for graceful shutdown).
 */
public final class ProtocolContext {
    private final Engine engine;
    private final Limits limits;
    private final AccessControl access;
    private final InterceptorBus interceptors;
    private final BrokerMetrics metrics;
    private final PublisherBackpressure backpressure;
    private final ChannelGroup channels = new DefaultChannelGroup("mqtt-clients", GlobalEventExecutor.INSTANCE);
    private final Set<CompletableFuture<?>> detaching = ConcurrentHashMap.newKeySet();
    private volatile boolean shuttingDown;

    public ProtocolContext(Engine engine, Limits limits, AccessControl access, InterceptorBus interceptors,
                           BrokerMetrics metrics) {
        this.engine = engine;
        this.limits = limits;
        this.access = access;
        this.interceptors = interceptors;
        this.metrics = metrics;
        this.backpressure = new PublisherBackpressure(engine, limits.backpressure(), metrics.registry());
    }

    Engine engine() {
        return engine;
    }

    public Limits limits() {
        return limits;
    }

    AccessControl access() {
        return access;
    }

    InterceptorBus interceptors() {
        return interceptors;
    }

    BrokerMetrics metrics() {
        return metrics;
    }

    PublisherBackpressure backpressure() {
        return backpressure;
    }

    ChannelGroup channels() {
        return channels;
    }

    boolean isShuttingDown() {
        return shuttingDown;
    }

    /** Remembers a session detach in progress so shutdown can wait for it before closing the engine. */
    void trackDetach(CompletableFuture<?> future) {
        detaching.add(future);
        future.whenComplete((v, e) -> detaching.remove(future));
    }

    /**
     * Graceful shutdown of all client connections: MQTT 5 clients are told "server shutting
     * down", every connection is closed, and session detaches are awaited so the engine can close
     * with nothing in flight. Wills are not published: the broker stopping is not a client failure
     * (each stays stored and counts from the restart, as after a crash: {@code WillAtEnd.UNTIL_RESTART}).
     */
    public void closeAllConnections(long timeoutMillis) {
        shuttingDown = true;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        channels.forEach(ch -> ch.pipeline().fireUserEventTriggered(ShutdownEvent.INSTANCE));
        channels.newCloseFuture().awaitUninterruptibly(Math.max(1, timeoutMillis));
        CompletableFuture<?>[] pending = detaching.toArray(new CompletableFuture<?>[0]);
        long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
        try {
            CompletableFuture.allOf(pending).get(left, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            // Detaches that failed or did not finish in time are the engine's to settle on close.
        }
        backpressure.close();
    }

    /** Fired through every open pipeline when the broker stops. */
    enum ShutdownEvent { INSTANCE }
}
