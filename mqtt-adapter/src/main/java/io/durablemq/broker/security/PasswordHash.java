package io.durablemq.broker.security;

import io.durablemq.broker.security.scram.ScramCredentials;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Locale;

/**
 * A stored password as written after {@code user:} in a password file. Two formats:
 * <ul>
 *   <li>{@code 64 hex digits}: Moquette's unsalted SHA-256 of the password bytes. Read for
 *       compatibility only: fast to brute-force, never written.</li>
 *   <li>{@code $pbkdf2-sha256$ITERATIONS$SALT$HASH}: PBKDF2-HMAC-SHA256 (the JDK's
 *       {@code PBKDF2WithHmacSHA256}) over the UTF-8 password, SALT and HASH in Base64 (padding
 *       optional). The default for new entries.</li>
 *   <li>{@code $scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY}: SCRAM-SHA-256 values
 *       (RFC 5802/7677, see {@link ScramCredentials}), written by {@code durablemq passwd --scram}.
 *       Serves MQTT 5 enhanced authentication and plain user name/password logins alike.</li>
 * </ul>
 */
public sealed interface PasswordHash permits PasswordHash.Sha256Hex, PasswordHash.Pbkdf2, PasswordHash.Scram {

    String PBKDF2_PREFIX = "$pbkdf2-sha256$";
    String SCRAM_PREFIX = "$scram-sha-256$";
    /** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. */
    int DEFAULT_ITERATIONS = 600_000;
    int MIN_ITERATIONS = 1_000;
    int SALT_BYTES = 16;
    int HASH_BYTES = 32;

    /** Checks an MQTT password (raw bytes from CONNECT). Constant-time in the comparison. */
    boolean matches(byte[] password);

    /** The text stored in the password file. */
    String encoded();

    /** Parses the part after {@code user:}; the message of the exception says what is wrong. */
    static PasswordHash parse(String text) {
        String t = text.strip();
        if (t.startsWith(PBKDF2_PREFIX)) {
            return Pbkdf2.parse(t);
        }
        if (t.startsWith(SCRAM_PREFIX)) {
            return Scram.parse(t);
        }
        if (t.startsWith("$")) {
            throw new IllegalArgumentException("unknown hash format '" + t.substring(0, t.indexOf('$', 1) + 1)
                    + "' (expected " + PBKDF2_PREFIX + ", " + SCRAM_PREFIX + " or a 64-digit SHA-256 hex)");
        }
        if (t.length() != 64 || !t.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
            throw new IllegalArgumentException("not a 64-digit SHA-256 hex nor a " + PBKDF2_PREFIX + " hash");
        }
        return new Sha256Hex(HexFormat.of().parseHex(t.toLowerCase(Locale.ROOT)));
    }

    /** A new salted hash of {@code password} (UTF-8 text). */
    static Pbkdf2 pbkdf2(char[] password, int iterations) {
        byte[] salt = new byte[SALT_BYTES];
        new SecureRandom().nextBytes(salt);
        return new Pbkdf2(iterations, salt, Pbkdf2.derive(password, salt, iterations));
    }

    /** New SCRAM-SHA-256 values for {@code password} (UTF-8 text) with a fresh salt. */
    static Scram scram(char[] password, int iterations) {
        byte[] salt = new byte[SALT_BYTES];
        new SecureRandom().nextBytes(salt);
        return new Scram(ScramCredentials.fromPassword(password, salt, iterations));
    }

    /** Moquette's format: SHA-256 of the password bytes. */
    record Sha256Hex(byte[] digest) implements PasswordHash {
        public Sha256Hex {
            digest = digest.clone();
        }

        public static Sha256Hex of(byte[] password) {
            return new Sha256Hex(sha256(password));
        }

        @Override
        public boolean matches(byte[] password) {
            return MessageDigest.isEqual(digest, sha256(password));
        }

        @Override
        public String encoded() {
            return HexFormat.of().formatHex(digest);
        }

        private static byte[] sha256(byte[] data) {
            try {
                return MessageDigest.getInstance("SHA-256").digest(data);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK lacks SHA-256", e);
            }
        }

        @Override
        public String toString() {
            return "Sha256Hex[****]";
        }
    }

    /** Salted, slow: PBKDF2-HMAC-SHA256. */
    record Pbkdf2(int iterations, byte[] salt, byte[] hash) implements PasswordHash {
        public Pbkdf2 {
            if (iterations < MIN_ITERATIONS) {
                throw new IllegalArgumentException("iterations must be at least " + MIN_ITERATIONS + ": " + iterations);
            }
            if (salt.length < 8) {
                throw new IllegalArgumentException("salt must be at least 8 bytes");
            }
            if (hash.length < 16) {
                throw new IllegalArgumentException("hash must be at least 16 bytes");
            }
            salt = salt.clone();
            hash = hash.clone();
        }

        static Pbkdf2 parse(String t) {
            String[] parts = t.substring(PBKDF2_PREFIX.length()).split("\\$", -1);
            if (parts.length != 3) {
                throw new IllegalArgumentException("expected " + PBKDF2_PREFIX + "ITERATIONS$SALT$HASH");
            }
            int iterations;
            try {
                iterations = Integer.parseInt(parts[0]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("iterations '" + parts[0] + "' is not a number");
            }
            try {
                Base64.Decoder b64 = Base64.getDecoder();
                return new Pbkdf2(iterations, b64.decode(parts[1]), b64.decode(parts[2]));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("bad " + PBKDF2_PREFIX + " hash: " + e.getMessage());
            }
        }

        @Override
        public boolean matches(byte[] password) {
            char[] chars = utf8(password);
            if (chars == null) {
                // Not UTF-8 text: no password set with the passwd command can be this one. Still spend
                // the same time, so the answer does not tell how far the check got.
                derive(new char[] {'x'}, salt, iterations);
                return false;
            }
            try {
                return MessageDigest.isEqual(hash, derive(chars, salt, iterations, hash.length));
            } finally {
                Arrays.fill(chars, '\0');
            }
        }

        static byte[] derive(char[] password, byte[] salt, int iterations) {
            return derive(password, salt, iterations, HASH_BYTES);
        }

        static byte[] derive(char[] password, byte[] salt, int iterations, int length) {
            // PBKDF2-HMAC-SHA256 is SCRAM's Hi() too: one implementation for both kinds of entry.
            return io.durablemq.broker.security.scram.ScramCrypto.pbkdf2(password, salt, iterations, length);
        }

        static char[] utf8(byte[] password) {
            try {
                CharBuffer cb = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(password));
                char[] out = new char[cb.remaining()];
                cb.get(out);
                return out;
            } catch (CharacterCodingException e) {
                return null;
            }
        }

        @Override
        public String encoded() {
            Base64.Encoder b64 = Base64.getEncoder().withoutPadding();
            return PBKDF2_PREFIX + iterations + "$" + b64.encodeToString(salt) + "$" + b64.encodeToString(hash);
        }

        @Override
        public String toString() {
            return "Pbkdf2[iterations=" + iterations + ", ****]";
        }
    }

    /**
     * SCRAM-SHA-256 StoredKey and ServerKey. A plain password is checked by deriving the
     * StoredKey from it (same PBKDF2 cost as {@link Pbkdf2}); the SCRAM exchange uses the values
     * directly. A PBKDF2 entry cannot serve SCRAM: its hash is the SaltedPassword, from which a
     * SCRAM proof can be made without the password.
     */
    record Scram(ScramCredentials credentials) implements PasswordHash {

        static Scram parse(String t) {
            String[] parts = t.substring(SCRAM_PREFIX.length()).split("\\$", -1);
            if (parts.length != 4) {
                throw new IllegalArgumentException("expected " + SCRAM_PREFIX + "ITERATIONS$SALT$STOREDKEY$SERVERKEY");
            }
            int iterations;
            try {
                iterations = Integer.parseInt(parts[0]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("iterations '" + parts[0] + "' is not a number");
            }
            byte[][] bytes = new byte[3][];
            for (int i = 0; i < 3; i++) {
                try {
                    bytes[i] = Base64.getDecoder().decode(parts[i + 1]);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("bad " + SCRAM_PREFIX + " entry: " + e.getMessage());
                }
            }
            return new Scram(new ScramCredentials(bytes[0], iterations, bytes[1], bytes[2]));
        }

        @Override
        public boolean matches(byte[] password) {
            char[] chars = Pbkdf2.utf8(password);
            if (chars == null) {
                // Not UTF-8: no passwd-made entry matches; spend the same time anyway.
                credentials.matchesPassword(new char[] {'x'});
                return false;
            }
            try {
                return credentials.matchesPassword(chars);
            } finally {
                Arrays.fill(chars, '\0');
            }
        }

        @Override
        public String encoded() {
            Base64.Encoder b64 = Base64.getEncoder().withoutPadding();
            return SCRAM_PREFIX + credentials.iterations() + "$" + b64.encodeToString(credentials.salt()) + "$"
                    + b64.encodeToString(credentials.storedKey()) + "$" + b64.encodeToString(credentials.serverKey());
        }

        @Override
        public String toString() {
            return "Scram[iterations=" + credentials.iterations() + ", ****]";
        }
    }
}
