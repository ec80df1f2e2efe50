package io.durablemq.bench.jmh;

import java.nio.ByteBuffer;

/** Payloads that carry a sequence number in their first 8 bytes. */
final class Sequences {

    private Sequences() {
    }

    static byte[] payload(long sequence, int size) {
        byte[] body = new byte[Math.max(Long.BYTES, size)];
        ByteBuffer.wrap(body).putLong(sequence);
        return body;
    }

    static long read(byte[] payload) {
        return payload.length < Long.BYTES ? -1 : ByteBuffer.wrap(payload).getLong();
    }

    /** MQTT packet ids run 1..65535. */
    static int packetId(long counter) {
        return (int) (counter % 65_535) + 1;
    }
}
