package io.durablemq.broker.listener;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.MultithreadEventExecutorGroup;

import java.util.concurrent.TimeUnit;

/** The Netty event loops of all listeners: native epoll where available (Linux), else NIO. */
public final class Transport implements AutoCloseable {
    private final EventLoopGroup acceptors;
    private final EventLoopGroup workers;
    private final Class<? extends ServerChannel> serverChannel;
    private final String name;

    private Transport(EventLoopGroup acceptors, EventLoopGroup workers, Class<? extends ServerChannel> serverChannel,
                      String name) {
        this.acceptors = acceptors;
        this.workers = workers;
        this.serverChannel = serverChannel;
        this.name = name;
    }

    /**
     * @param workerThreads event loops for client connections ({@code io_threads}); 0 = Netty's default
     *                      (2 x cores, or {@code -Dio.netty.eventLoopThreads})
     */
    public static Transport create(int workerThreads) {
        if (Epoll.isAvailable()) {
            return new Transport(new EpollEventLoopGroup(1, new DefaultThreadFactory("durablemq-accept")),
                    new EpollEventLoopGroup(workerThreads, new DefaultThreadFactory("durablemq-io")),
                    EpollServerSocketChannel.class, "epoll");
        }
        return new Transport(new NioEventLoopGroup(1, new DefaultThreadFactory("durablemq-accept")),
                new NioEventLoopGroup(workerThreads, new DefaultThreadFactory("durablemq-io")),
                NioServerSocketChannel.class, "nio");
    }

    EventLoopGroup acceptors() {
        return acceptors;
    }

    EventLoopGroup workers() {
        return workers;
    }

    Class<? extends ServerChannel> serverChannel() {
        return serverChannel;
    }

    /** The transport and its event-loop count, as the listeners' start lines show it ("epoll, 2 event loops"). */
    public String name() {
        return name + ", " + ((MultithreadEventExecutorGroup) workers).executorCount() + " event loops";
    }

    @Override
    public void close() {
        acceptors.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        acceptors.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
        workers.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
}
