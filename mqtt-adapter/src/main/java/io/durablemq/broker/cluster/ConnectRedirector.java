package io.durablemq.broker.cluster;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
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
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * What a node that does not serve answers on the MQTT port: to a CONNECT, MQTT 5 clients get
 * CONNACK 0x9C (Use another server) with a Server Reference naming the leader's MQTT address
 * (0x88 Server unavailable while no leader is known), MQTT 3.1.1 clients CONNACK 0x03 (Server
 * unavailable); then the connection closes. Nothing else is read or stored.
 */
final class ConnectRedirector implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ConnectRedirector.class);
    /** Enough for any CONNECT a client would send before learning it must go elsewhere. */
    private static final int MAX_CONNECT_BYTES = 64 * 1024;

    private final NioEventLoopGroup group;
    private final Channel channel;

    private ConnectRedirector(NioEventLoopGroup group, Channel channel) {
        this.group = group;
        this.channel = channel;
    }

    /** Binds {@code host:port}; {@code leaderAddress} gives the leader's MQTT host:port or null. */
    static ConnectRedirector bind(String host, int port, Supplier<String> leaderAddress) throws InterruptedException {
        NioEventLoopGroup group = new NioEventLoopGroup(1, new DefaultThreadFactory("durablemq-redirect"));
        try {
            Channel ch = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            c.pipeline().addLast(new ReadTimeoutHandler(10, TimeUnit.SECONDS),
                                    new MqttDecoder(MAX_CONNECT_BYTES), MqttEncoder.INSTANCE, new Answer(leaderAddress));
                        }
                    })
                    .bind(host, port).sync().channel();
            log.info("not the leader: CONNECT on {}:{} is redirected", host, port);
            return new ConnectRedirector(group, ch);
        } catch (RuntimeException | InterruptedException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
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
