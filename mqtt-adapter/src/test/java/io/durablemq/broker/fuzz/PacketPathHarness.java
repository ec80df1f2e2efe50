package io.durablemq.broker.fuzz;

import io.durablemq.broker.LogCapture;
import io.durablemq.broker.config.Limits;
import io.durablemq.broker.interceptor.InterceptorBus;
import io.durablemq.broker.metrics.BrokerMetrics;
import io.durablemq.broker.protocol.MqttConnection;
import io.durablemq.broker.protocol.OutboundTopicAliasHandler;
import io.durablemq.broker.protocol.PacketGuard;
import io.durablemq.broker.protocol.ProtocolContext;
import io.durablemq.broker.security.AccessControl;
import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.metrics.EngineStats;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalServerChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * The broker's packet path for fuzzing: the same pipeline as a TCP connection (PacketGuard,
 * Netty's MQTT decoder/encoder, {@link MqttConnection}) wired to a real engine on a temporary
 * folder, reached over Netty's in-JVM local transport (real event loops, no sockets), so one
 * input costs well under a millisecond of network overhead.
 *
 * <p>{@link #run(byte[])} sends one input as a new connection's byte stream and checks:
 * no exception escaped into the connection handler, the connection ends (closed by the broker or,
 * after the client hangs up, fully torn down), the session detaches, and the engine's counts stay
 * consistent.
 */
final class PacketPathHarness implements AutoCloseable {
    /** PINGREQ: once its PINGRESP is back, every packet before it was handled. */
    private static final byte[] SENTINEL = {(byte) 0xC0, 0x00};

    private final Path dir;
    private final Engine engine;
    private final ProtocolContext context;
    private final DefaultEventLoopGroup group = new DefaultEventLoopGroup(2);
    private final LocalAddress address = new LocalAddress("durablemq-fuzz-" + System.nanoTime());
    private final Channel server;
    private final LinkedBlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
    private final LogCapture handlerLog = LogCapture.of(MqttConnection.class).quiet();
    private long runs;

    PacketPathHarness() throws Exception {
        dir = Files.createTempDirectory("durablemq-fuzz");
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        engine = Engine.open(EngineConfig.defaults(dir.resolve("store")).withDurability(Durability.OS), registry);
        Limits limits = Limits.defaults().toBuilder()
                .maxPacketSize(8 * 1024).maxInflight(8).receiveMaximum(8).maxQueuedMessages(64)
                .maxSubscriptionsPerClient(16).topicAliasMaximum(4).connectTimeout(Duration.ofSeconds(2))
                .maxTopicLevels(16).maxTopicLength(256).build();
        context = new ProtocolContext(engine, limits, new AccessControl(true, null, null, registry),
                new InterceptorBus(List.of(), registry), new BrokerMetrics(registry));
        server = new ServerBootstrap().group(group).channel(LocalServerChannel.class)
                .childHandler(new ChannelInitializer<LocalChannel>() {
                    @Override
                    protected void initChannel(LocalChannel ch) {
                        ch.pipeline().addLast(PacketGuard.NAME, new PacketGuard(limits.maxPacketSize()));
                        ch.pipeline().addLast("mqtt-decoder", new MqttDecoder(limits.maxPacketSize(), limits.maxClientIdLength()));
                        ch.pipeline().addLast("mqtt-encoder", MqttEncoder.INSTANCE);
                        ch.pipeline().addLast(OutboundTopicAliasHandler.NAME, new OutboundTopicAliasHandler(context));
                        ch.pipeline().addLast(MqttConnection.NAME, new MqttConnection(context));
                        accepted.add(ch);
                    }
                }).bind(address).sync().channel();
    }

    Engine engine() {
        return engine;
    }

    void run(byte[] input) throws Exception {
        runs++;
        handlerLog.clear();
        CompletableFuture<Void> handled = new CompletableFuture<>();
        Channel client = new Bootstrap().group(group).channel(LocalChannel.class)
                .handler(new ChannelInitializer<LocalChannel>() {
                    @Override
                    protected void initChannel(LocalChannel ch) {
                        // Framing only (a decoder would need to know the protocol version the input chose).
                        ch.pipeline().addLast(new ByteToMessageDecoder() {
                            @Override
                            protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
                                while (in.readableBytes() >= 2) {
                                    int start = in.readerIndex();
                                    int type = in.getUnsignedByte(start) >> 4;
                                    int length = 0;
                                    int shift = 0;
                                    int i = start + 1;
                                    while (true) {
                                        if (i >= in.writerIndex()) {
                                            return;
                                        }
                                        int digit = in.getUnsignedByte(i++);
                                        length |= (digit & 0x7F) << shift;
                                        if ((digit & 0x80) == 0) {
                                            break;
                                        }
                                        shift += 7;
                                    }
                                    if (in.writerIndex() - i < length) {
                                        return;
                                    }
                                    in.readerIndex(i + length);
                                    if (type == 13) {
                                        handled.complete(null); // PINGRESP
                                    }
                                }
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                                handled.complete(null);
                                super.channelInactive(ctx);
                            }
                        });
                    }
                }).connect(address).sync().channel();
        Channel serverSide = accepted.poll(5, TimeUnit.SECONDS);
        if (serverSide == null) {
            throw new AssertionError("the broker side of the connection never appeared");
        }
        // Three writes at input-derived split points: packets cut across reads must decode the same.
        int a = input.length / 3;
        int b = 2 * input.length / 3;
        client.write(Unpooled.wrappedBuffer(input, 0, a));
        client.write(Unpooled.wrappedBuffer(input, a, b - a));
        client.writeAndFlush(Unpooled.wrappedBuffer(input, b, input.length - b));
        client.writeAndFlush(Unpooled.wrappedBuffer(SENTINEL));
        try {
            // Answered or closed. When the input ends inside a packet, the sentinel becomes part of it
            // and no answer comes: then only give the broker a moment before hanging up.
            handled.get(endsOnPacketBoundary(input) ? 2_000 : 20, TimeUnit.MILLISECONDS);
        } catch (TimeoutException incomplete) {
            // the client hangs up below, as a real one would
        }
        client.close().sync();
        if (!serverSide.closeFuture().await(5, TimeUnit.SECONDS)) {
            throw new AssertionError("the broker did not close its side after the client left");
        }
        List<String> escaped = handlerLog.all().stream().filter(l -> l.contains("failed, closing")).toList();
        if (!escaped.isEmpty()) {
            throw new AssertionError("an exception escaped into the connection handler: " + escaped);
        }
        awaitDetached();
        checkStats(engine.stats());
    }

    /** True when {@code input} is whole packets by its fixed headers (nothing said about their content). */
    static boolean endsOnPacketBoundary(byte[] input) {
        int pos = 0;
        while (pos < input.length) {
            int length = 0;
            int shift = 0;
            int i = pos + 1;
            while (true) {
                if (i >= input.length || shift > 21) {
                    return false;
                }
                int digit = input[i++] & 0xFF;
                length |= (digit & 0x7F) << shift;
                if ((digit & 0x80) == 0) {
                    break;
                }
                shift += 7;
            }
            if ((long) i + length > input.length) {
                return false;
            }
            pos = i + length;
        }
        return true;
    }

    /** Every session detaches once its connection is gone (detach is asynchronous). */
    private void awaitDetached() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (engine.stats().onlineSessions() != 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(engine.stats().onlineSessions() + " sessions still online after run " + runs);
            }
            Thread.sleep(1);
        }
    }

    private static void checkStats(EngineStats s) {
        if (s.queuedMessages() < 0 || s.queuedBytes() < 0 || s.inflightMessages() < 0 || s.onlineSessions() < 0
                || s.offlineSessions() < 0 || s.storedBodies() < 0 || s.retainedMessages() < 0) {
            throw new AssertionError("negative engine count: " + describe(s));
        }
        if ((s.queuedMessages() == 0) != (s.queuedBytes() == 0)) {
            throw new AssertionError("queued messages and bytes disagree: " + describe(s));
        }
        if (s.storedBodies() == 0 && (s.queuedMessages() > 0 || s.inflightMessages() > 0 || s.retainedMessages() > 0)) {
            throw new AssertionError("queued, in-flight or retained messages without a stored body: " + describe(s));
        }
    }

    private static String describe(EngineStats s) {
        return "queued=" + s.queuedMessages() + " queuedBytes=" + s.queuedBytes() + " inflight=" + s.inflightMessages()
                + " online=" + s.onlineSessions() + " offline=" + s.offlineSessions() + " bodies=" + s.storedBodies()
                + " retained=" + s.retainedMessages();
    }

    @Override
    public void close() throws Exception {
        handlerLog.close();
        server.close().sync();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        context.closeAllConnections(1_000);
        engine.close();
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    // best effort: a temp folder
                }
            });
        }
    }
}
