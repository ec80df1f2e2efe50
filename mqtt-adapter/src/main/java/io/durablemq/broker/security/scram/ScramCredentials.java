package io.durablemq.broker.security.scram;

import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Base64;

/**
 * What the server keeps for a SCRAM-SHA-256 user (RFC 5802 section 3): salt, iteration count,
 * {@code StoredKey = H(HMAC(SaltedPassword, "Client Key"))} and
 * {@code ServerKey = HMAC(SaltedPassword, "Server Key")}. Neither the password nor the
 * SaltedPassword is kept: a leaked StoredKey does not let anyone log in (the proof needs
 * ClientKey, which H does not give back), and it still costs a brute-force search at
 * {@code iterations} PBKDF2 rounds per guess to find the password.
 */
public record ScramCredentials(byte[] salt, int iterations, byte[] storedKey, byte[] serverKey) {
    /** RFC 7677 section 4: the iteration count SHOULD be at least 4096. */
    public static final int MIN_ITERATIONS = 4096;
    public static final int MIN_SALT_BYTES = 8;

    public ScramCredentials {
        if (iterations < MIN_ITERATIONS) {
            throw new IllegalArgumentException("SCRAM iterations must be at least " + MIN_ITERATIONS + ": " + iterations);
        }
        if (salt.length < MIN_SALT_BYTES) {
            throw new IllegalArgumentException("SCRAM salt must be at least " + MIN_SALT_BYTES + " bytes");
        }
        if (storedKey.length != ScramCrypto.KEY_BYTES || serverKey.length != ScramCrypto.KEY_BYTES) {
            throw new IllegalArgumentException("SCRAM StoredKey and ServerKey must be " + ScramCrypto.KEY_BYTES + " bytes each");
        }
        salt = salt.clone();
        storedKey = storedKey.clone();
        serverKey = serverKey.clone();
    }

    /** Derives the stored values from a password (used by {@code durablemq passwd --scram} and for plain logins). */
    public static ScramCredentials fromPassword(char[] password, byte[] salt, int iterations) {
        byte[] salted = ScramCrypto.hi(password, salt, iterations);
        try {
            byte[] clientKey = ScramCrypto.hmac(salted, "Client Key");
            return new ScramCredentials(salt, iterations, ScramCrypto.sha256(clientKey),
                    ScramCrypto.hmac(salted, "Server Key"));
        } finally {
            Arrays.fill(salted, (byte) 0);
        }
    }

    /**
     * Checks a plain password (an MQTT CONNECT without enhanced authentication) against these
     * values: the same PBKDF2 cost as a {@code $pbkdf2-sha256$} entry, compared in constant time.
     */
    public boolean matchesPassword(char[] password) {
        return MessageDigest.isEqual(storedKey, fromPassword(password, salt, iterations).storedKey);
    }

    @Override
    public byte[] salt() {
        return salt.clone();
    }

    @Override
    public byte[] storedKey() {
        return storedKey.clone();
    }

    @Override
    public byte[] serverKey() {
        return serverKey.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ScramCredentials c && c.iterations == iterations && Arrays.equals(c.salt, salt)
                && MessageDigest.isEqual(c.storedKey, storedKey) && MessageDigest.isEqual(c.serverKey, serverKey);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(salt) * 31 + iterations;
    }

    @Override
    public String toString() {
        return "ScramCredentials[iterations=" + iterations + ", salt=" + Base64.getEncoder().encodeToString(salt) + ", ****]";
    }
}
