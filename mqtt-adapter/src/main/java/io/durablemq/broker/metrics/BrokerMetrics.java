package io.durablemq.broker.metrics;

import io.durablemq.engine.metrics.StageTimers;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The protocol layer's own meters (the engine exports the message and store meters):
 * {@code durablemq_connections}, {@code durablemq_connections_opened_total},
 * {@code durablemq_connects_rejected_total{reason}}, {@code durablemq_protocol_errors_total{reason}},
 * {@code durablemq_outbound_topic_aliases_total{event}}.
 */
public final class BrokerMetrics {
    private final MeterRegistry registry;
    private final AtomicInteger connections = new AtomicInteger();
    private final Counter opened;
    private final Counter aliasAssigned;
    private final Counter aliasReused;
    private final Counter aliasEvicted;
    /** The publish stage histograms the engine registered; the broker records decode, loop_hop, send, deliver_hop and deliver. */
    private final StageTimers publishStages;

    public BrokerMetrics(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("durablemq.connections", connections, AtomicInteger::get)
                .description("Open client network connections, all listeners")
                .register(registry);
        this.opened = Counter.builder("durablemq.connections.opened")
                .description("Client network connections accepted")
                .register(registry);
        this.aliasAssigned = outboundAliasCounter("assigned");
        this.aliasReused = outboundAliasCounter("reused");
        this.aliasEvicted = outboundAliasCounter("evicted");
        this.publishStages = new StageTimers(registry);
        // Registered at zero so dashboards and alerts see the series before the first event.
        for (String reason : KNOWN_CONNECT_REJECTIONS) {
            connectRejectedCounter(reason);
        }
        for (String reason : KNOWN_PROTOCOL_ERRORS) {
            protocolErrorCounter(reason);
        }
    }

    /** Labels the protocol handler uses; others still work, they just appear on first use. */
    static final String[] KNOWN_CONNECT_REJECTIONS = {
            "bad_credentials", "client_id_rejected", "unsupported_protocol_version", "protocol_error",
            "server_unavailable", "max_connections", "will_topic_invalid", "bad_authentication_method"};
    static final String[] KNOWN_PROTOCOL_ERRORS = {
            "malformed_packet", "protocol_error", "keep_alive_timeout", "connect_timeout",
            "topic_name_invalid", "topic_alias_invalid", "receive_maximum_exceeded", "packet_too_large"};

    /** Time a QoS 1/2 publish spent in a broker stage (decode or send), in nanoseconds. */
    public void publishStage(StageTimers.Stage stage, long nanos) {
        publishStages.record(stage, nanos);
    }

    private Counter connectRejectedCounter(String reason) {
        return Counter.builder("durablemq.connects.rejected")
                .description("CONNECTs refused, by reason")
                .tag("reason", reason)
                .register(registry);
    }

    private Counter protocolErrorCounter(String reason) {
        return Counter.builder("durablemq.protocol.errors")
                .description("Connections closed for protocol violations or malformed packets, by reason")
                .tag("reason", reason)
                .register(registry);
    }

    private Counter outboundAliasCounter(String event) {
        return Counter.builder("durablemq.outbound.topic.aliases")
                .description("Outbound MQTT 5 topic aliases: assigned (topic + alias sent), reused (alias only), "
                        + "evicted (alias taken from a colder topic for a hotter one)")
                .tag("event", event)
                .register(registry);
    }

    /** An outbound PUBLISH carried its topic and a newly assigned alias. */
    public void outboundAliasAssigned() {
        aliasAssigned.increment();
    }

    /** An outbound PUBLISH carried only an alias (empty topic). */
    public void outboundAliasReused() {
        aliasReused.increment();
    }

    /** An alias was taken from a colder topic to give it to a hotter one. */
    public void outboundAliasEvicted() {
        aliasEvicted.increment();
    }

    /**
     * A socket was accepted. Returns the open count including it: a limit check must use this value, not a later
     * {@link #openConnections()} read, or sockets accepted together on different event loops all see the others'
     * increments and all refuse themselves.
     */
    public int connectionOpened() {
        opened.increment();
        return connections.incrementAndGet();
    }

    public void connectionClosed() {
        connections.decrementAndGet();
    }

    public int openConnections() {
        return connections.get();
    }

    /** A CONNECT answered with a failure CONNACK; {@code reason} is a fixed label such as {@code not_authorized}. */
    public void connectRejected(String reason) {
        connectRejectedCounter(reason).increment();
    }

    /** A connection closed for breaking the protocol; {@code reason} is a fixed label such as {@code malformed_packet}. */
    public void protocolError(String reason) {
        protocolErrorCounter(reason).increment();
    }

    /** A SUBSCRIBE filter refused for a limit; {@code reason} is a fixed label such as {@code max_subscriptions}. */
    public void subscriptionRefused(String reason) {
        Counter.builder("durablemq.subscriptions.refused")
                .description("Subscriptions refused because a limit was reached, by reason")
                .tag("reason", reason)
                .register(registry)
                .increment();
    }

    public MeterRegistry registry() {
        return registry;
    }
}
