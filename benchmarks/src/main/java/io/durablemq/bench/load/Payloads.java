package io.durablemq.bench.load;

import java.nio.ByteBuffer;

/**
 * The load generator's message body: a magic number, the publisher index, its sequence number
 * and the send timestamp ({@link System#nanoTime()}, publishers and subscribers share one
 * JVM), padded to the configured size. Messages that do not start with the magic number are
 * someone else's and are ignored.
 */
public final class Payloads {

    public static final int HEADER_BYTES = 24;
    private static final int MAGIC = 0x444D_5142; // "DMQB"

    private Payloads() {
    }

    /** A decoded header. */
    public record Stamp(int publisher, long sequence, long sentNanos) {
    }

    public static byte[] encode(int publisher, long sequence, long sentNanos, int size) {
        byte[] body = new byte[size];
        ByteBuffer.wrap(body).putInt(MAGIC).putInt(publisher).putLong(sequence).putLong(sentNanos);
        return body;
    }

    /** The header, or null when the body is not one of ours. Does not move the buffer's position. */
    public static Stamp decode(ByteBuffer body) {
        if (body.remaining() < HEADER_BYTES) {
            return null;
        }
        int at = body.position();
        if (body.getInt(at) != MAGIC) {
            return null;
        }
        return new Stamp(body.getInt(at + 4), body.getLong(at + 8), body.getLong(at + 16));
    }
}
