package io.durablemq.broker.security.scram;

import javax.crypto.Mac;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The primitives of SCRAM-SHA-256 (RFC 5802 section 2.2, RFC 7677), JDK crypto only:
 * {@code H} is SHA-256, {@code HMAC} is HMAC-SHA-256 and {@code Hi} is PBKDF2-HMAC-SHA-256 with
 * a 32-byte output (Hi as RFC 5802 defines it is exactly PBKDF2's first block).
 */
public final class ScramCrypto {
    public static final int KEY_BYTES = 32;

    private ScramCrypto() {
    }

    /** {@code Hi(password, salt, i)}: the SaltedPassword. */
    public static byte[] hi(char[] password, byte[] salt, int iterations) {
        return pbkdf2(password, salt, iterations, KEY_BYTES);
    }

    /** PBKDF2 with HMAC-SHA-256, {@code length} bytes (also the password file's PBKDF2 entries). */
    public static byte[] pbkdf2(char[] password, byte[] salt, int iterations, int length) {
        PBEKeySpec spec = new PBEKeySpec(password, salt, iterations, length * 8);
        try {
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK lacks PBKDF2WithHmacSHA256", e);
        } finally {
            spec.clearPassword();
        }
    }

    public static byte[] hmac(byte[] key, byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK lacks HmacSHA256", e);
        }
    }

    public static byte[] hmac(byte[] key, String data) {
        return hmac(key, data.getBytes(StandardCharsets.UTF_8));
    }

    public static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    /** a XOR b; both the same length. */
    public static byte[] xor(byte[] a, byte[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("lengths differ: " + a.length + " and " + b.length);
        }
        byte[] out = new byte[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = (byte) (a[i] ^ b[i]);
        }
        return out;
    }
}
