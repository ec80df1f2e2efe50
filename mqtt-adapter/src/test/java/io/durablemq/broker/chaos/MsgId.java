package io.durablemq.broker.chaos;

import java.nio.charset.StandardCharsets;

/** A published message's identity, carried in its payload as {@code "<publisher> <seq> [padding]"}. */
record MsgId(String publisher, long seq) {
    byte[] payload(int padding) {
        StringBuilder b = new StringBuilder(publisher).append(' ').append(seq);
        if (padding > 0) {
            b.append(' ').append("x".repeat(padding));
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** Null when the payload is not one of ours. */
    static MsgId parse(byte[] payload) {
        return parse(new String(payload, StandardCharsets.UTF_8));
    }

    static MsgId parse(String text) {
        String[] f = text.split(" ", 3);
        if (f.length < 2) {
            return null;
        }
        try {
            return new MsgId(f[0], Long.parseLong(f[1]));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    @Override
    public String toString() {
        return publisher + "#" + seq;
    }
}
