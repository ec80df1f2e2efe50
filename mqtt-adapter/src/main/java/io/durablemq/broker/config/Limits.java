package io.durablemq.broker.config;

import io.durablemq.engine.delivery.OverflowPolicy;

import java.time.Duration;
import java.util.Objects;

/**
 * Every bound the broker puts on a client. Each has a safe default and a config key (see
 * mqtt-adapter/CONFIG.md); reaching one gives the client the protocol's answer, a log line and
 * a metric.
 *
 * @param maxConnections            open client connections over all listeners ({@code max_connections})
 * @param maxPacketSize             largest MQTT packet accepted, bytes ({@code netty.mqtt.message_size})
 * @param maxInflight               outbound in-flight window per session ({@code max_inflight})
 * @param maxQueuedMessages         queued messages per session ({@code max_queued_messages})
 * @param maxQueuedBytes            queued bytes per session ({@code max_queued_bytes})
 * @param overflowPolicy            what happens past the queue limits ({@code queue_overflow_policy})
 * @param connectTimeout            CONNECT must arrive this soon after the socket opens ({@code connect_timeout_seconds})
 * @param maxClientIdLength         longest client id, UTF-8 bytes ({@code max_client_id_length})
 * @param maxTopicLength            longest topic name or filter, UTF-8 bytes ({@code max_topic_length})
 * @param maxTopicLevels            most '/'-separated levels in a topic or filter ({@code max_topic_levels})
 * @param maxSubscriptionsPerClient subscriptions one session may hold ({@code max_subscriptions_per_client})
 * @param maxSessionExpirySeconds   cap on a session's expiry interval ({@code max_session_expiry_seconds})
 * @param receiveMaximum            inbound QoS 1/2 publishes a client may have unacknowledged ({@code receive_maximum})
 * @param maxKeepAliveSeconds       keep-alive above this is lowered (MQTT 5 server keep alive) ({@code max_keep_alive_seconds})
 * @param topicAliasMaximum         inbound topic aliases per connection, 0 = none ({@code topic_alias_maximum})
 * @param maxOutboundTopicAliases   topic aliases the broker assigns on its PUBLISHes to one MQTT 5
 *                                  connection, also bounded by the client's Topic Alias Maximum; 0 = none
 *                                  ({@code max_outbound_topic_aliases})
 * @param backpressure              when a slow online subscriber pauses its publishers ({@code backpressure_*})
 */
public record Limits(int maxConnections, int maxPacketSize, int maxInflight, long maxQueuedMessages,
                     long maxQueuedBytes, OverflowPolicy overflowPolicy, Duration connectTimeout,
                     int maxClientIdLength, int maxTopicLength, int maxTopicLevels,
                     int maxSubscriptionsPerClient, long maxSessionExpirySeconds, int receiveMaximum,
                     int maxKeepAliveSeconds, int topicAliasMaximum, int maxOutboundTopicAliases,
                     BackpressureLimits backpressure) {

    /** MQTT's largest encodable remaining length plus the 5-byte fixed header. */
    public static final int MQTT_MAX_PACKET_SIZE = 268_435_460;
    public static final int DEFAULT_MAX_PACKET_SIZE = 1024 * 1024;
    /** Enough for the hot topics of a typical subscriber; each slot costs one topic reference per connection. */
    public static final int DEFAULT_MAX_OUTBOUND_TOPIC_ALIASES = 32;

    public Limits {
        Objects.requireNonNull(overflowPolicy, "overflowPolicy");
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(backpressure, "backpressure");
        requireRange("maxConnections", maxConnections, 1, Integer.MAX_VALUE);
        requireRange("maxPacketSize", maxPacketSize, 16, MQTT_MAX_PACKET_SIZE);
        requireRange("maxInflight", maxInflight, 1, 65_535);
        requireRange("maxQueuedMessages", maxQueuedMessages, 1, Long.MAX_VALUE);
        requireRange("maxQueuedBytes", maxQueuedBytes, 1, Long.MAX_VALUE);
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("connectTimeout must be positive: " + connectTimeout);
        }
        requireRange("maxClientIdLength", maxClientIdLength, 23, 65_535);
        requireRange("maxTopicLength", maxTopicLength, 1, 65_535);
        requireRange("maxTopicLevels", maxTopicLevels, 1, 65_535);
        requireRange("maxSubscriptionsPerClient", maxSubscriptionsPerClient, 1, Integer.MAX_VALUE);
        requireRange("maxSessionExpirySeconds", maxSessionExpirySeconds, 0, 0xFFFF_FFFFL);
        requireRange("receiveMaximum", receiveMaximum, 1, 65_535);
        requireRange("maxKeepAliveSeconds", maxKeepAliveSeconds, 1, 65_535);
        requireRange("topicAliasMaximum", topicAliasMaximum, 0, 65_535);
        requireRange("maxOutboundTopicAliases", maxOutboundTopicAliases, 0, 65_535);
    }

    private static void requireRange(String name, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + " must be " + min + ".." + max + ": " + value);
        }
    }

    public static Limits defaults() {
        return new Limits(10_000, DEFAULT_MAX_PACKET_SIZE, 1_000, 1_000_000, 512L * 1024 * 1024,
                OverflowPolicy.REJECT, Duration.ofSeconds(10), 256, 65_535, 128, 1_000,
                0xFFFF_FFFFL, 1_000, 65_535, 64, DEFAULT_MAX_OUTBOUND_TOPIC_ALIASES,
                BackpressureLimits.DEFAULTS);
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Changes a few limits of an existing set (tests, embedding). */
    public static final class Builder {
        private int maxConnections;
        private int maxPacketSize;
        private int maxInflight;
        private long maxQueuedMessages;
        private long maxQueuedBytes;
        private OverflowPolicy overflowPolicy;
        private Duration connectTimeout;
        private int maxClientIdLength;
        private int maxTopicLength;
        private int maxTopicLevels;
        private int maxSubscriptionsPerClient;
        private long maxSessionExpirySeconds;
        private int receiveMaximum;
        private int maxKeepAliveSeconds;
        private int topicAliasMaximum;
        private int maxOutboundTopicAliases;
        private BackpressureLimits backpressure;

        private Builder(Limits l) {
            maxConnections = l.maxConnections;
            maxPacketSize = l.maxPacketSize;
            maxInflight = l.maxInflight;
            maxQueuedMessages = l.maxQueuedMessages;
            maxQueuedBytes = l.maxQueuedBytes;
            overflowPolicy = l.overflowPolicy;
            connectTimeout = l.connectTimeout;
            maxClientIdLength = l.maxClientIdLength;
            maxTopicLength = l.maxTopicLength;
            maxTopicLevels = l.maxTopicLevels;
            maxSubscriptionsPerClient = l.maxSubscriptionsPerClient;
            maxSessionExpirySeconds = l.maxSessionExpirySeconds;
            receiveMaximum = l.receiveMaximum;
            maxKeepAliveSeconds = l.maxKeepAliveSeconds;
            topicAliasMaximum = l.topicAliasMaximum;
            maxOutboundTopicAliases = l.maxOutboundTopicAliases;
            backpressure = l.backpressure;
        }

        public Builder maxConnections(int v) { maxConnections = v; return this; }
        public Builder maxPacketSize(int v) { maxPacketSize = v; return this; }
        public Builder maxInflight(int v) { maxInflight = v; return this; }
        public Builder maxQueuedMessages(long v) { maxQueuedMessages = v; return this; }
        public Builder maxQueuedBytes(long v) { maxQueuedBytes = v; return this; }
        public Builder overflowPolicy(OverflowPolicy v) { overflowPolicy = v; return this; }
        public Builder connectTimeout(Duration v) { connectTimeout = v; return this; }
        public Builder maxClientIdLength(int v) { maxClientIdLength = v; return this; }
        public Builder maxTopicLength(int v) { maxTopicLength = v; return this; }
        public Builder maxTopicLevels(int v) { maxTopicLevels = v; return this; }
        public Builder maxSubscriptionsPerClient(int v) { maxSubscriptionsPerClient = v; return this; }
        public Builder maxSessionExpirySeconds(long v) { maxSessionExpirySeconds = v; return this; }
        public Builder receiveMaximum(int v) { receiveMaximum = v; return this; }
        public Builder maxKeepAliveSeconds(int v) { maxKeepAliveSeconds = v; return this; }
        public Builder topicAliasMaximum(int v) { topicAliasMaximum = v; return this; }
        public Builder maxOutboundTopicAliases(int v) { maxOutboundTopicAliases = v; return this; }
        public Builder backpressure(BackpressureLimits v) { backpressure = v; return this; }

        public Limits build() {
            return new Limits(maxConnections, maxPacketSize, maxInflight, maxQueuedMessages, maxQueuedBytes,
                    overflowPolicy, connectTimeout, maxClientIdLength, maxTopicLength, maxTopicLevels,
                    maxSubscriptionsPerClient, maxSessionExpirySeconds, receiveMaximum, maxKeepAliveSeconds,
                    topicAliasMaximum, maxOutboundTopicAliases, backpressure);
        }
    }
}
