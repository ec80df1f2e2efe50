package io.durablemq.broker.listener;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The event-loop count the broker asks for ({@code io_threads}) is the one Netty starts, 0 is Netty's own
 * default (two per core, or {@code -Dio.netty.eventLoopThreads}), and the start line says it.
 */
class TransportTest {
    @Test
    void startsTheEventLoopsItIsAskedForAndNamesThem() {
        for (int loops : new int[] {1, 3}) {
            Transport transport = Transport.create(loops);
            try {
                assertTrue(transport.name().endsWith(", " + loops + " event loops"), transport.name());
                assertTrue(transport.name().startsWith("epoll") || transport.name().startsWith("nio"), transport.name());
            } finally {
                transport.close();
            }
        }
        int nettysDefault = Math.max(1, io.netty.util.internal.SystemPropertyUtil.getInt("io.netty.eventLoopThreads",
                io.netty.util.NettyRuntime.availableProcessors() * 2));
        Transport transport = Transport.create(0);
        try {
            assertTrue(transport.name().endsWith(", " + nettysDefault + " event loops"), transport.name());
        } finally {
            transport.close();
        }
    }
}
