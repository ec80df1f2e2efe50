package io.durablemq.broker.listener;

import io.durablemq.broker.protocol.MqttConnection;
import io.durablemq.broker.protocol.OutboundTopicAliasHandler;
import io.durablemq.broker.protocol.PacketGuard;
import io.durablemq.broker.protocol.ProtocolContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.ssl.SslContext;

/**
 * The pipeline of one client connection:
 * [TLS] -> [HTTP + WebSocket handshake -> binary frames] -> flush consolidation -> packet guard (framing,
 * limits and the checks Netty's decoder skips, see {@link PacketGuard}) -> MQTT decoder /
 * encoder -> outbound topic aliases (MQTT 5, {@link OutboundTopicAliasHandler}) -> {@link MqttConnection}
 * (the keep-alive idle handler is inserted after CONNECT).
 */
final class MqttChannelInitializer extends ChannelInitializer<SocketChannel> {
    private final ProtocolContext context;
    private final SslContext ssl;
    private final String websocketPath;

    /** @param websocketPath null for a plain MQTT byte-stream listener */
    MqttChannelInitializer(ProtocolContext context, SslContext ssl, String websocketPath) {
        this.context = context;
        this.ssl = ssl;
        this.websocketPath = websocketPath;
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        int maxPacket = context.limits().maxPacketSize();
        ChannelPipeline p = ch.pipeline();
        if (ssl != null) {
            p.addLast("tls", ssl.newHandler(ch.alloc()));
        }
        if (websocketPath != null) {
            WebSocketPipeline.addTo(p, websocketPath, maxPacket, context.limits().connectTimeout().toMillis());
        }
        p.addLast("flush", new FlushConsolidationHandler(256, true));
        p.addLast(PacketGuard.NAME, new PacketGuard(maxPacket));
        p.addLast("mqtt-decoder", new MqttDecoder(maxPacket, context.limits().maxClientIdLength()));
        p.addLast("mqtt-encoder", MqttEncoder.INSTANCE);
        p.addLast(OutboundTopicAliasHandler.NAME, new OutboundTopicAliasHandler(context));
        p.addLast(MqttConnection.NAME, new MqttConnection(context));
    }
}
