package io.durablemq.broker.security;

import io.durablemq.broker.security.scram.ScramCredentialStore;
import io.durablemq.broker.security.scram.ScramCredentials;
import io.moquette.broker.security.IAuthenticator;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks user names and passwords against a {@link PasswordFile}.
 * <p>
 * PBKDF2 is slow on purpose (hundreds of milliseconds at the default iterations), too slow to
 * repeat for every reconnect of a device fleet. A password that verified once is remembered as
 * an HMAC under a key that exists only in this process's memory, so a reconnect costs
 * microseconds while a password file that leaks still costs an attacker the full PBKDF2.
 * <p>
 * A remembered check names the stored hash it was made against, so after a reload of the file
 * ({@link #reloaded}) it still counts for users whose line did not change and never for a user
 * whose password was changed or who was removed.
 */
public final class PasswordAuthenticator implements IAuthenticator, ScramCredentialStore {

    /** Result of a check, for logs and the failure counter. */
    public enum Outcome { OK, UNKNOWN_USER, BAD_PASSWORD }

    private static final int MAX_CACHED = 10_000;

    /** A password that matched {@code storedHash} (the file's encoded entry), as an HMAC. */
    private record Verified(byte[] mac, String storedHash) { }

    private final PasswordFile file;
    private final byte[] processKey;
    private final Map<String, Verified> verified;
    /** Checked for unknown users, as costly as the file's real entries. */
    private final PasswordHash dummy;

    public PasswordAuthenticator(PasswordFile file) {
        this(file, newProcessKey(), new ConcurrentHashMap<>());
    }

    private PasswordAuthenticator(PasswordFile file, byte[] processKey, Map<String, Verified> verified) {
        this.file = file;
        this.processKey = processKey;
        this.verified = verified;
        int iterations = file.maxPbkdf2Iterations();
        dummy = iterations > 0 ? PasswordHash.pbkdf2("dummy".toCharArray(), iterations)
                : PasswordHash.Sha256Hex.of(new byte[] {0});
    }

    private static byte[] newProcessKey() {
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        return key;
    }

    /**
     * Checks against a newly read version of the file, keeping the remembered checks: users
     * whose entry is unchanged reconnect without a new PBKDF2 after a reload.
     */
    public PasswordAuthenticator reloaded(PasswordFile newFile) {
        return new PasswordAuthenticator(newFile, processKey, verified);
    }

    public Outcome verify(String username, byte[] password) {
        PasswordHash stored = username == null ? null : file.get(username);
        byte[] pw = password == null ? new byte[0] : password;
        if (stored == null) {
            // Spend comparable time, so response time does not reveal which user names exist.
            dummy.matches(pw);
            return Outcome.UNKNOWN_USER;
        }
        byte[] mac = mac(username, pw);
        String storedHash = stored.encoded();
        Verified known = verified.get(username);
        if (known != null && known.storedHash().equals(storedHash) && MessageDigest.isEqual(known.mac(), mac)) {
            return Outcome.OK;
        }
        if (!stored.matches(pw)) {
            return Outcome.BAD_PASSWORD;
        }
        if (verified.size() >= MAX_CACHED) {
            verified.clear();
        }
        verified.put(username, new Verified(mac, storedHash));
        return Outcome.OK;
    }

    @Override
    public boolean checkValid(String clientId, String username, byte[] password) {
        return verify(username, password) == Outcome.OK;
    }

    private byte[] mac(String username, byte[] password) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(processKey, "HmacSHA256"));
            m.update(username.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            m.update((byte) 0);
            return m.doFinal(password);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK lacks HmacSHA256", e);
        }
    }

    PasswordFile file() {
        return file;
    }

    /** The user's {@code $scram-sha-256$} entry, for MQTT 5 enhanced authentication; null for other entries. */
    @Override
    public ScramCredentials find(String user) {
        return file.get(user) instanceof PasswordHash.Scram scram ? scram.credentials() : null;
    }

    /** Unknown users are announced the iteration count of the file's SCRAM entries (all the same by default). */
    @Override
    public int decoyIterations() {
        return file.maxScramIterations();
    }
}
