package io.durablemq.broker.cluster;

import io.durablemq.broker.listener.Listeners;
import io.durablemq.broker.listener.WebSocketPipeline;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * What a node that does not serve answers on its MQTT listeners (plain, TLS, WebSocket, secure
 * WebSocket: the same ports the serving broker binds): to a CONNECT, MQTT 5 clients get CONNACK 0x9C
 * (Use another server) with a Server Reference naming the leader (0x88 Server unavailable while no
 * leader is known), MQTT 3.1.1 clients CONNACK 0x03 (Server unavailable); then the connection
 * closes. Nothing else is read or stored.
 *
 * <p>The Server Reference names the leader's listener of the kind the client came in on
 * ({@link ServerReferences}: a TLS client is sent to the leader's TLS port, a WebSocket client to its
 * WebSocket port).
 */
final class ConnectRedirector implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ConnectRedirector.class);
    /** Enough for any CONNECT a client would send before learning it must go elsewhere. */
    private static final int MAX_CONNECT_BYTES = 64 * 1024;
    private static final long HANDSHAKE_MILLIS = 10_000;

    /** One listener to answer on: its kind, port, TLS context (TLS kinds) and WebSocket path (WebSocket kinds). */
    record Listener(Listeners.Kind kind, int port, SslContext ssl, String websocketPath) {
        boolean plain() {
            return kind == Listeners.Kind.TCP;
        }
    }

    private final NioEventLoopGroup group;
    private final List<Channel> channels;

    private ConnectRedirector(NioEventLoopGroup group, List<Channel> channels) {
        this.group = group;
        this.channels = channels;
    }

    /** The Server Reference for a client on a listener of {@code kind} bound here on {@code port}, or null (no leader known). */
    interface ReferenceSource {
        String reference(Listeners.Kind kind, int port);
    }

    /** Binds every listener on {@code host}; {@code references} names the leader per listener kind. */
    static ConnectRedirector bind(String host, List<Listener> listeners, ReferenceSource references)
            throws InterruptedException {
        NioEventLoopGroup group = new NioEventLoopGroup(1, new DefaultThreadFactory("durablemq-redirect"));
        List<Channel> bound = new ArrayList<>();
        try {
            for (Listener l : listeners) {
                AtomicInteger boundPort = new AtomicInteger(l.port());
                Supplier<String> reference = () -> references.reference(l.kind(), boundPort.get());
                Channel ch = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                        .childHandler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel c) {
                                ChannelPipeline p = c.pipeline();
                                p.addLast(new ReadTimeoutHandler(10, TimeUnit.SECONDS));
                                if (l.ssl() != null) {
                                    p.addLast(l.ssl().newHandler(c.alloc()));
                                }
                                if (l.websocketPath() != null) {
                                    WebSocketPipeline.addTo(p, l.websocketPath(), MAX_CONNECT_BYTES, HANDSHAKE_MILLIS);
                                }
                                p.addLast(new MqttDecoder(MAX_CONNECT_BYTES), MqttEncoder.INSTANCE, new Answer(reference));
                            }
                        })
                        .bind(host, l.port()).sync().channel();
                bound.add(ch);
                boundPort.set(((InetSocketAddress) ch.localAddress()).getPort());
                log.info("not the leader: CONNECT on {} {}:{} is redirected", l.kind(), host, boundPort.get());
            }
            return new ConnectRedirector(group, bound);
        } catch (RuntimeException | InterruptedException e) {
            bound.forEach(ch -> ch.close().awaitUninterruptibly(5, TimeUnit.SECONDS));
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    /** {@code host:port} with the port replaced (IPv6 literals keep their brackets); null stays null. */
    static String withPort(String address, int port) {
        if (address == null) {
            return null;
        }
        int colon = address.lastIndexOf(':');
        return (colon < 0 ? address : address.substring(0, colon)) + ":" + port;
    }

    /** The ports bound, in the order of the listeners given (port 0 resolved). */
    List<Integer> ports() {
        return channels.stream().map(ch -> ((InetSocketAddress) ch.localAddress()).getPort()).toList();
    }

    @Override
    public void close() {
        channels.forEach(ch -> ch.close().awaitUninterruptibly(5, TimeUnit.SECONDS));
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private static final class Answer extends SimpleChannelInboundHandler<MqttMessage> {
        private final Supplier<String> leaderAddress;

        Answer(Supplier<String> leaderAddress) {
            this.leaderAddress = leaderAddress;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, MqttMessage msg) {
            if (!(msg instanceof MqttConnectMessage connect)) {
                ctx.close(); // anything else before CONNECT (or a packet the decoder rejected)
                return;
            }
            boolean v5 = connect.variableHeader().version() == MqttVersion.MQTT_5.protocolLevel();
            MqttConnAckMessage ack;
            if (v5) {
                String leader = leaderAddress.get();
                MqttProperties props = new MqttProperties();
                if (leader != null) {
                    props.add(new MqttProperties.StringProperty(
                            MqttProperties.MqttPropertyType.SERVER_REFERENCE.value(), leader));
                }
                ack = MqttMessageBuilders.connAck()
                        .returnCode(leader != null ? MqttConnectReturnCode.CONNECTION_REFUSED_USE_ANOTHER_SERVER
                                : MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE_5)
                        .properties(props).sessionPresent(false).build();
            } else {
                ack = MqttMessageBuilders.connAck().returnCode(MqttConnectReturnCode.CONNECTION_REFUSED_SERVER_UNAVAILABLE)
                        .sessionPresent(false).build();
            }
            ctx.writeAndFlush(ack).addListener(ChannelFutureListener.CLOSE);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
