package io.durablemq.engine.store;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Big-endian key encodings, so that RocksDB's bytewise order is the order the engine needs:
 * a session's records are contiguous (length-prefixed client id first), and a queue's
 * entries iterate in sequence order.
 */
public final class Keys {
    private Keys() {
    }

    /** {@code u16 length | utf8 clientId}: the prefix of every per-session record. */
    public static byte[] session(String clientId) {
        byte[] id = clientId.getBytes(StandardCharsets.UTF_8);
        if (id.length > 0xFFFF) {
            throw new IllegalArgumentException("client id longer than 65535 bytes");
        }
        return ByteBuffer.allocate(2 + id.length).putShort((short) id.length).put(id).array();
    }

    public static String clientIdOf(byte[] key) {
        int len = ((key[0] & 0xFF) << 8) | (key[1] & 0xFF);
        return new String(key, 2, len, StandardCharsets.UTF_8);
    }

    /** Length of the session prefix at the start of {@code key}. */
    public static int sessionPrefixLength(byte[] key) {
        return 2 + (((key[0] & 0xFF) << 8) | (key[1] & 0xFF));
    }

    public static byte[] subscription(byte[] sessionKey, String filter) {
        byte[] f = filter.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(sessionKey.length + f.length).put(sessionKey).put(f).array();
    }

    public static String filterOf(byte[] subscriptionKey) {
        int p = sessionPrefixLength(subscriptionKey);
        return new String(subscriptionKey, p, subscriptionKey.length - p, StandardCharsets.UTF_8);
    }

    public static byte[] queueEntry(byte[] sessionKey, long seq) {
        return ByteBuffer.allocate(sessionKey.length + 8).put(sessionKey).putLong(seq).array();
    }

    public static long seqOf(byte[] queueKey) {
        return ByteBuffer.wrap(queueKey, queueKey.length - 8, 8).getLong();
    }

    /** Key of an in-flight or QoS 2 receive record: session prefix then the u16 packet id. */
    public static byte[] packet(byte[] sessionKey, int packetId) {
        return ByteBuffer.allocate(sessionKey.length + 2).put(sessionKey).putShort((short) packetId).array();
    }

    public static int packetIdOf(byte[] packetKey) {
        return ((packetKey[packetKey.length - 2] & 0xFF) << 8) | (packetKey[packetKey.length - 1] & 0xFF);
    }

    public static byte[] message(long messageId) {
        return ByteBuffer.allocate(8).putLong(messageId).array();
    }

    public static long messageIdOf(byte[] key) {
        return ByteBuffer.wrap(key).getLong();
    }

    public static byte[] retained(String topic) {
        return topic.getBytes(StandardCharsets.UTF_8);
    }

    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** The smallest key greater than every key starting with {@code prefix} (for range deletes). */
    public static byte[] prefixEnd(byte[] prefix) {
        byte[] end = Arrays.copyOf(prefix, prefix.length);
        for (int i = end.length - 1; i >= 0; i--) {
            if (end[i] != (byte) 0xFF) {
                end[i]++;
                return Arrays.copyOf(end, i + 1);
            }
        }
        // All 0xFF: no upper bound shorter than infinity; callers never use such prefixes.
        throw new IllegalArgumentException("prefix has no finite end");
    }
}
