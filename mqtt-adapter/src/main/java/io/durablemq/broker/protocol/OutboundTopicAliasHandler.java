package io.durablemq.broker.protocol;

import io.durablemq.broker.metrics.BrokerMetrics;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttPublishVariableHeader;
import io.netty.handler.codec.mqtt.MqttVersion;

import java.nio.charset.StandardCharsets;

/**
 * Sends MQTT 5 topic aliases on the broker's PUBLISHes (section 3.3.2.3.4). Sits between the MQTT
 * codec and {@link MqttConnection}: it reads the Topic Alias Maximum and Maximum Packet Size of
 * the client's CONNECT (passed on untouched) and rewrites each outbound PUBLISH: the first use of
 * a topic carries the topic and a new alias, later uses an empty topic and the alias. At most
 * min(client's maximum, {@code max_outbound_topic_aliases}) aliases; once all are taken the
 * hottest topics keep them ({@link OutboundTopicAliases} says how and why).
 *
 * <p>One handler per connection, so aliases die with the connection: a message resent after a
 * reconnect (DUP) tells the new connection its alias again. On an MQTT 3.x connection, or when
 * either side's maximum is 0, the handler removes itself after CONNECT. A packet is never made
 * larger than the client's Maximum Packet Size: when topic + alias would not fit, the PUBLISH goes
 * out unchanged (the broker already checked that one fits).
 */
public final class OutboundTopicAliasHandler extends ChannelDuplexHandler {
    public static final String NAME = "mqtt-outbound-aliases";
    /**
     * An alias costs 3 bytes (property id and two-byte alias) and saves the topic's bytes: on
     * shorter topics it can never make a packet smaller, so they are sent as they are.
     */
    static final int MIN_TOPIC_BYTES = 4;

    private final int brokerMaximum;
    private final BrokerMetrics metrics;
    private boolean connectSeen;
    /** Null until a CONNECT enables aliases; while null every write passes through. */
    private OutboundTopicAliases aliases;
    private long clientMaxPacketSize = Long.MAX_VALUE;

    public OutboundTopicAliasHandler(ProtocolContext context) {
        this(context.limits().maxOutboundTopicAliases(), context.metrics());
    }

    OutboundTopicAliasHandler(int brokerMaximum, BrokerMetrics metrics) {
        this.brokerMaximum = brokerMaximum;
        this.metrics = metrics;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (connectSeen || !(msg instanceof MqttMessage)) {
            ctx.fireChannelRead(msg);
            return;
        }
        connectSeen = true; // only the first packet can be a valid CONNECT; later ones close the connection
        if (msg instanceof MqttConnectMessage connect && connect.decoderResult().isSuccess()) {
            aliases = aliasesFor(connect);
        }
        ctx.fireChannelRead(msg);
        if (aliases == null && ctx.pipeline().context(this) != null) {
            ctx.pipeline().remove(this);
        }
    }

    private OutboundTopicAliases aliasesFor(MqttConnectMessage connect) {
        if (connect.variableHeader().version() != MqttVersion.MQTT_5.protocolLevel()) {
            return null; // MQTT 3.x has no aliases
        }
        MqttProperties props = connect.variableHeader().properties();
        Integer clientMaximum = MqttProps.integer(props, MqttPropertyType.TOPIC_ALIAS_MAXIMUM);
        int maximum = Math.min(clientMaximum == null ? 0 : clientMaximum, brokerMaximum); // absent means 0
        if (maximum <= 0) {
            return null;
        }
        Integer maxPacket = MqttProps.integer(props, MqttPropertyType.MAXIMUM_PACKET_SIZE);
        if (maxPacket != null && maxPacket != 0) { // 0 is refused by MqttConnection
            clientMaxPacketSize = Integer.toUnsignedLong(maxPacket);
        }
        return new OutboundTopicAliases(Math.min(maximum, 65_535));
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (aliases == null || !(msg instanceof MqttPublishMessage publish) || !aliasable(publish)) {
            ctx.write(msg, promise);
            return;
        }
        MqttPublishVariableHeader header = publish.variableHeader();
        String topic = header.topicName();
        OutboundTopicAliases.Assignment a = aliases.lookup(topic);
        if (a == null) {
            ctx.write(msg, promise); // all aliases taken by hotter topics
            return;
        }
        String sentTopic = a.known() ? "" : topic;
        MqttProperties sentProps = withAlias(header.properties(), a.alias());
        if (clientMaxPacketSize != Long.MAX_VALUE && EncodedPublishSize.of(sentTopic,
                publish.fixedHeader().qosLevel().value(), sentProps, publish.payload().readableBytes())
                > clientMaxPacketSize) {
            ctx.write(msg, promise); // topic + alias would not fit; the plain packet does
            return;
        }
        aliases.assign(topic, a);
        // The payload buffer moves to the new message: the old holder is dropped without a
        // release (that would free the shared payload) and the encoder releases the new one once.
        MqttPublishMessage aliased = new MqttPublishMessage(publish.fixedHeader(),
                new MqttPublishVariableHeader(sentTopic, header.packetId(), sentProps), publish.payload());
        if (a.known()) {
            metrics.outboundAliasReused();
            ctx.write(aliased, promise);
            return;
        }
        metrics.outboundAliasAssigned();
        if (a.evictedTopic() != null) {
            metrics.outboundAliasEvicted();
        }
        // If this packet never reaches the client, later packets must not rely on the alias.
        ChannelPromise written = promise.unvoid();
        written.addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                aliases.forget(topic, a.alias());
            }
        });
        ctx.write(aliased, written);
    }

    private static boolean aliasable(MqttPublishMessage publish) {
        String topic = publish.variableHeader().topicName();
        return topic != null && topic.getBytes(StandardCharsets.UTF_8).length >= MIN_TOPIC_BYTES
                && publish.variableHeader().properties().getProperty(MqttPropertyType.TOPIC_ALIAS.value()) == null;
    }

    /** A copy of {@code props} plus the alias; the original may be shared or immutable (NO_PROPERTIES). */
    private static MqttProperties withAlias(MqttProperties props, int alias) {
        MqttProperties copy = new MqttProperties();
        for (MqttProperties.MqttProperty<?> p : props.listAll()) {
            copy.add(p);
        }
        copy.add(new MqttProperties.IntegerProperty(MqttPropertyType.TOPIC_ALIAS.value(), alias));
        return copy;
    }

    /** The aliases in use on this connection, or 0 when the handler is off (tests). */
    int aliasesInUse() {
        return aliases == null ? 0 : aliases.size();
    }
}
