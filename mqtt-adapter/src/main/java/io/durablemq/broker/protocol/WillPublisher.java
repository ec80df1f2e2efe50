package io.durablemq.broker.protocol;

import io.durablemq.broker.security.AccessControl;
import io.durablemq.engine.Engine;
import io.durablemq.engine.delivery.PublishResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Publishes wills through the engine, at once or after the MQTT 5 will delay. A delayed will
 * is cancelled when its client reconnects to the same session before the delay ends, and
 * fires at once when the client reconnects with clean start (its old session ended).
 * Delayed wills are kept in memory only: a broker restart forgets them (documented).
 */
public final class WillPublisher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WillPublisher.class);

    private final Engine engine;
    private final AccessControl access;
    private final ScheduledExecutorService timer;
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();

    private record Pending(WillMessage will, String username, ScheduledFuture<?> task) {
    }

    public WillPublisher(Engine engine, AccessControl access) {
        this.engine = engine;
        this.access = access;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "durablemq-wills");
            t.setDaemon(true);
            return t;
        });
    }

    /** The connection of {@code clientId} ended without a normal DISCONNECT. */
    void connectionLost(String clientId, String username, WillMessage will, long delaySeconds) {
        if (delaySeconds <= 0) {
            publish(clientId, username, will);
            return;
        }
        Pending[] holder = new Pending[1];
        ScheduledFuture<?> task = timer.schedule(() -> {
            if (pending.remove(clientId, holder[0])) {
                publish(clientId, username, will);
            }
        }, delaySeconds, TimeUnit.SECONDS);
        holder[0] = new Pending(will, username, task);
        Pending previous = pending.put(clientId, holder[0]);
        if (previous != null) {
            previous.task.cancel(false);
        }
    }

    /** A new connection of {@code clientId}: a resumed session cancels its delayed will, a clean start sends it now. */
    void clientConnected(String clientId, boolean cleanStart) {
        Pending p = pending.remove(clientId);
        if (p == null) {
            return;
        }
        p.task.cancel(false);
        if (cleanStart) {
            publish(clientId, p.username, p.will);
        }
    }

    private void publish(String clientId, String username, WillMessage will) {
        if (!access.canPublish(clientId, username, will.topic())) {
            LOG.info("will of client {} to topic {} not published: not authorized", clientId, will.topic());
            return;
        }
        try {
            engine.publish(clientId, will.toMessage(System.currentTimeMillis())).whenComplete((r, err) -> {
                if (err != null) {
                    LOG.warn("will of client {} to topic {} failed: {}", clientId, will.topic(), err.toString());
                } else if (r.status().isQuotaRefusal()) {
                    LOG.warn("will of client {} to topic {} refused ({})", clientId, will.topic(), r.status());
                }
            });
        } catch (RuntimeException e) {
            LOG.warn("will of client {} to topic {} failed: {}", clientId, will.topic(), e.toString());
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        if (!pending.isEmpty()) {
            LOG.info("{} delayed will message(s) not sent: the broker is stopping", pending.size());
        }
        pending.clear();
    }
}
