package io.durablemq.broker.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The protocol layer's own meters (the engine exports the message and store meters):
 * {@code durablemq_connections}, {@code durablemq_connections_opened_total},
 * {@code durablemq_connects_rejected_total{reason}}, {@code durablemq_protocol_errors_total{reason}}.
 */
public final class BrokerMetrics {
    private final MeterRegistry registry;
    private final AtomicInteger connections = new AtomicInteger();
    private final Counter opened;

    public BrokerMetrics(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("durablemq.connections", connections, AtomicInteger::get)
                .description("Open client network connections, all listeners")
                .register(registry);
        this.opened = Counter.builder("durablemq.connections.opened")
                .description("Client network connections accepted")
                .register(registry);
    }

    public void connectionOpened() {
        connections.incrementAndGet();
        opened.increment();
    }

    public void connectionClosed() {
        connections.decrementAndGet();
    }

    public int openConnections() {
        return connections.get();
    }

    /** A CONNECT answered with a failure CONNACK; {@code reason} is a fixed label such as {@code not_authorized}. */
    public void connectRejected(String reason) {
        Counter.builder("durablemq.connects.rejected")
                .description("CONNECTs refused, by reason")
                .tag("reason", reason)
                .register(registry)
                .increment();
    }

    /** A connection closed for breaking the protocol; {@code reason} is a fixed label such as {@code malformed_packet}. */
    public void protocolError(String reason) {
        Counter.builder("durablemq.protocol.errors")
                .description("Connections closed for protocol violations or malformed packets, by reason")
                .tag("reason", reason)
                .register(registry)
                .increment();
    }

    public MeterRegistry registry() {
        return registry;
    }
}
