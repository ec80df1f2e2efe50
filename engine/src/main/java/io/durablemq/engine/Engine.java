package io.durablemq.engine;

import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.StoreOpenException;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.concurrent.CompletableFuture;

/**
 * The durable delivery engine: the single owner of sessions, subscriptions, queues, in-flight
 * windows, QoS 2 receive records and retained messages. See engine/README.md.
 */
public final class Engine implements AutoCloseable {

    private Engine() {
    }

    /** Opens (or creates) the store in {@code config.dataPath()} and recovers its state. */
    public static Engine open(EngineConfig config, MeterRegistry meters) throws StoreOpenException {
        throw new UnsupportedOperationException("engine implementation in progress");
    }

    public RecoveryReport recoveryReport() {
        throw new UnsupportedOperationException();
    }

    /**
     * Attaches a connection to its session (creating, resuming or, with clean start, replacing
     * it). A previous connection of the same client id is told {@code TAKEN_OVER}.
     */
    public CompletableFuture<SessionHandle> connect(ConnectRequest request, SessionListener listener) {
        throw new UnsupportedOperationException();
    }

    /**
     * Publishes on behalf of the broker (will messages, system topics): routed like a client's
     * publish, with {@code originClientId} used for no-local, and never deduplicated.
     */
    public CompletableFuture<PublishResult> publish(String originClientId, Message message) {
        throw new UnsupportedOperationException();
    }

    @Override
    public void close() {
    }
}
