package io.durablemq.broker.protocol;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.concurrent.TimeUnit;

/**
 * Ends a connection after the server's last packet (DISCONNECT, or a refusing CONNACK) so the
 * client can read that packet. Closing a TCP socket that still has unread input makes the
 * kernel send a reset instead of a FIN, and a reset makes the client's kernel throw away what
 * it had received but not yet read: a client that was still writing (say, past the Receive
 * Maximum) would never see the reason code. So: write and flush the packet, shut the output
 * (half-close: the client reads the packet, then end of stream), keep reading and discarding
 * the client's input, and close when the client closes its side or after
 * {@link #INPUT_DRAIN_MILLIS}, whichever comes first. Bounded: a client that never stops
 * writing is cut off after the grace period.
 */
final class GracefulClose {
    /**
     * How long a half-closed connection's input is read and discarded before the socket is
     * closed anyway. Long enough for a client to read the DISCONNECT and close (well-behaved
     * clients close at once), short enough that a broker shutdown or a flood of protocol errors
     * does not hold sockets.
     */
    static final long INPUT_DRAIN_MILLIS = 1_500;

    static final String DISCARD_INPUT = "discard-input";

    private GracefulClose() {
    }

    /** Writes {@code lastPacket}, then ends the connection as described above. */
    static void sendThenClose(Channel channel, Object lastPacket) {
        sendThenClose(channel, lastPacket, INPUT_DRAIN_MILLIS);
    }

    static void sendThenClose(Channel channel, Object lastPacket, long drainMillis) {
        if (!(channel instanceof DuplexChannel duplex) || !channel.isActive()) {
            // No half-close on this transport (an in-memory channel in tests): close after the write.
            channel.writeAndFlush(lastPacket).addListener(f -> channel.close());
            return;
        }
        // From now on the client's bytes go nowhere: not parsed, not answered. Added before the
        // write so that what arrives meanwhile cannot start a second, abrupt close.
        if (channel.pipeline().get(DISCARD_INPUT) == null) {
            channel.pipeline().addFirst(DISCARD_INPUT, DiscardInput.INSTANCE);
        }
        channel.config().setAutoRead(true); // reading may have been paused (CONNECT pending)
        channel.writeAndFlush(lastPacket).addListener(written -> {
            if (!written.isSuccess()) {
                channel.close();
                return;
            }
            duplex.shutdownOutput().addListener(shut -> {
                if (!shut.isSuccess()) {
                    channel.close();
                }
            });
            ScheduledFuture<?> deadline = channel.eventLoop().schedule(() -> {
                channel.close();
            }, drainMillis, TimeUnit.MILLISECONDS);
            channel.closeFuture().addListener(closed -> deadline.cancel(false));
        });
    }

    /**
     * Reads and drops everything; the client's end of stream closes the channel (Netty closes a
     * socket whose input ended unless half-closure is allowed, which it is not here).
     */
    @ChannelHandler.Sharable
    static final class DiscardInput extends ChannelInboundHandlerAdapter {
        static final DiscardInput INSTANCE = new DiscardInput();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }
    }
}
