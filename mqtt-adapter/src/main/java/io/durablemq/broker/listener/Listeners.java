package io.durablemq.broker.listener;

import io.durablemq.broker.protocol.ProtocolContext;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.handler.ssl.SslContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.EnumMap;
import java.util.Map;

/** The bound server sockets of one broker, by kind; each logs where it listens. */
public final class Listeners implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Listeners.class);

    public enum Kind {
        TCP("mqtt"), TLS("mqtts"), WEBSOCKET("ws"), SECURE_WEBSOCKET("wss");

        private final String scheme;

        Kind(String scheme) {
            this.scheme = scheme;
        }
    }

    private final Transport transport;
    private final ProtocolContext context;
    private final String host;
    private final Map<Kind, Channel> bound = new EnumMap<>(Kind.class);

    public Listeners(Transport transport, ProtocolContext context, String host) {
        this.transport = transport;
        this.context = context;
        this.host = host;
    }

    /**
     * Binds one listener. {@code port} 0 binds any free port (see {@link #port}).
     *
     * @param ssl           TLS context for TLS and secure WebSocket, else null
     * @param websocketPath path of WebSocket listeners, else null
     */
    public void bind(Kind kind, int port, SslContext ssl, String websocketPath) throws InterruptedException {
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(transport.acceptors(), transport.workers())
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new MqttChannelInitializer(context, ssl, websocketPath));
        Channel channel = bootstrap.bind(host, port).sync().channel();
        bound.put(kind, channel);
        int actual = ((InetSocketAddress) channel.localAddress()).getPort();
        LOG.info("listening for MQTT{} on {}://{}:{}{} ({})", describe(kind), kind.scheme, host, actual,
                websocketPath == null ? "" : websocketPath, transport.name());
    }

    private static String describe(Kind kind) {
        return switch (kind) {
            case TCP -> "";
            case TLS -> " over TLS";
            case WEBSOCKET -> " over WebSocket";
            case SECURE_WEBSOCKET -> " over secure WebSocket";
        };
    }

    /** The port a listener is bound to, or -1 when that listener is off. */
    public int port(Kind kind) {
        Channel channel = bound.get(kind);
        return channel == null ? -1 : ((InetSocketAddress) channel.localAddress()).getPort();
    }

    /** Stops accepting new connections; open connections stay until closed separately. */
    @Override
    public void close() {
        bound.values().forEach(ch -> ch.close().awaitUninterruptibly());
        bound.clear();
    }
}
