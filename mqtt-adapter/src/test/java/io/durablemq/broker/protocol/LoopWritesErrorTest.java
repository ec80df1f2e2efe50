package io.durablemq.broker.protocol;

import io.durablemq.broker.config.Limits;
import io.durablemq.broker.interceptor.InterceptorBus;
import io.durablemq.broker.metrics.BrokerMetrics;
import io.durablemq.broker.security.AccessControl;
import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.flush.FlushConsolidationHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LoopWrites}'s drain when a task throws an {@link Error} (which it does not catch, unlike a
 * RuntimeException): the flush and the next drain are in a {@code finally}, so what the tasks
 * before it wrote still reaches the peer, and the tasks behind it still run. The event loop
 * itself logs the Error and goes on (Netty's task runner catches every Throwable), so without
 * the {@code finally} the earlier write would wait unflushed, and the later tasks stranded, until
 * some later {@code add} queued a drain: for a silent client, never.
 *
 * <p>A real connection: a Netty NIO channel on a loopback socket, with the broker's
 * {@link FlushConsolidationHandler} in its pipeline, whose peer is a plain socket that only reads.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LoopWritesErrorTest {
    private static final int READ_MILLIS = 10_000;

    @TempDir
    Path dir;

    /** What a task throws: an Error, as an assertion or a VM error inside a delivery would. */
    private static final class InjectedError extends Error {
        InjectedError() {
            super("thrown by LoopWritesErrorTest's second task");
        }
    }

    @Test
    void anErrorThrownByATaskLeavesNoEarlierWriteUnflushedAndTheTasksBehindItRun() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        NioEventLoopGroup group = new NioEventLoopGroup(1);
        try (Engine engine = Engine.open(EngineConfig.defaults(dir).withDurability(Durability.OS), registry);
             ServerSocket peerListener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            ProtocolContext context = new ProtocolContext(engine, Limits.defaults(),
                    new AccessControl(true, null, null, registry), new InterceptorBus(List.of(), registry),
                    new BrokerMetrics(registry));
            Channel channel = new Bootstrap().group(group).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast("flush", new FlushConsolidationHandler(256, true)); // as the broker's pipeline
                        }
                    })
                    .connect(peerListener.getLocalSocketAddress()).sync().channel();
            try (Socket peer = peerListener.accept()) {
                peer.setSoTimeout(READ_MILLIS);
                ConnectionScope scope = new ConnectionScope(context);
                scope.channel = channel;
                scope.clientId = "loop-writes-error";
                AtomicBoolean behindRan = new AtomicBoolean();
                // Added from the loop itself, so all three wait in the queue for one drain, which runs after this task.
                channel.eventLoop().submit(() -> {
                    scope.fromEngine.add(() -> channel.write(Unpooled.copiedBuffer("first", StandardCharsets.US_ASCII)));
                    scope.fromEngine.add(() -> {
                        throw new InjectedError();
                    });
                    scope.fromEngine.add(() -> {
                        channel.write(Unpooled.copiedBuffer("behind", StandardCharsets.US_ASCII));
                        behindRan.set(true);
                    });
                }).sync();

                assertEquals("first", read(peer, "first".length()),
                        "the write before the Error reached the peer (flushed by the drain's finally)");
                assertEquals("behind", read(peer, "behind".length()),
                        "the task behind the Error ran and its write was flushed (the next drain was queued)");
                assertTrue(behindRan.get());
            } finally {
                channel.close().sync();
                context.closeAllConnections(1_000); // stops the context's back-pressure thread
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** Exactly {@code n} bytes from the peer, or a failure saying what came before the read timed out. */
    private static String read(Socket peer, int n) throws Exception {
        InputStream in = peer.getInputStream();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        try {
            while (got.size() < n) {
                int b = in.read();
                if (b < 0) {
                    break;
                }
                got.write(b);
            }
        } catch (SocketTimeoutException silent) {
            // reported below with what did arrive
        }
        String text = got.toString(StandardCharsets.US_ASCII);
        if (text.length() < n) {
            throw new AssertionError("the peer waited " + READ_MILLIS + " ms and got only '" + text + "' of " + n
                    + " bytes: written and left unflushed, or never written");
        }
        return text;
    }
}
