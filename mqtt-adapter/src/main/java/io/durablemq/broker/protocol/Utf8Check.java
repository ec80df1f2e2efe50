package io.durablemq.broker.protocol;

import io.netty.buffer.ByteBuf;

/**
 * Strict check of MQTT UTF-8 encoded strings (MQTT 3.1.1 section 1.5.3, MQTT 5 section 1.5.4):
 * well-formed UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates, nothing above
 * U+10FFFF) and no U+0000. Netty's decoder replaces bad bytes with U+FFFD silently, which would
 * let two different byte strings name the same topic, so the raw bytes are checked here.
 */
public final class Utf8Check {
    private Utf8Check() {
    }

    /** Null when {@code length} bytes at {@code index} are an acceptable MQTT string, else why not. */
    public static String problem(ByteBuf buf, int index, int length) {
        int i = index;
        int end = index + length;
        while (i < end) {
            int b = buf.getByte(i) & 0xFF;
            if (b == 0) {
                return "contains U+0000";
            }
            if (b < 0x80) {
                i++;
                continue;
            }
            int need;
            int min;
            int cp;
            if (b >= 0xC2 && b <= 0xDF) {
                need = 1;
                min = 0x80;
                cp = b & 0x1F;
            } else if (b >= 0xE0 && b <= 0xEF) {
                need = 2;
                min = 0x800;
                cp = b & 0x0F;
            } else if (b >= 0xF0 && b <= 0xF4) {
                need = 3;
                min = 0x10000;
                cp = b & 0x07;
            } else {
                return "invalid UTF-8 lead byte 0x" + Integer.toHexString(b);
            }
            if (i + need >= end) {
                return "truncated UTF-8 sequence";
            }
            for (int k = 1; k <= need; k++) {
                int c = buf.getByte(i + k) & 0xFF;
                if ((c & 0xC0) != 0x80) {
                    return "invalid UTF-8 continuation byte 0x" + Integer.toHexString(c);
                }
                cp = (cp << 6) | (c & 0x3F);
            }
            if (cp < min) {
                return "overlong UTF-8 encoding";
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                return "UTF-8 encoded surrogate";
            }
            if (cp > 0x10FFFF) {
                return "code point above U+10FFFF";
            }
            i += need + 1;
        }
        return null;
    }
}
