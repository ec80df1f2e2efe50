package io.durablemq.broker.security.scram;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.function.Supplier;

/**
 * The server side of one SCRAM-SHA-256 exchange (RFC 5802 section 3, RFC 7677): client-first
 * in, server-first out, client-final in, server-final out. One instance per exchange; a
 * re-authentication starts a new one. Not thread-safe (one connection's event loop uses it).
 * <p>
 * An unknown user (or one with no SCRAM entry) gets a server-first message like a real one:
 * a salt derived from the user name under a per-process key (the same every time, so probing
 * twice shows nothing) and the store's usual iteration count; the exchange then fails at the
 * proof, exactly as a wrong password does. The proof is checked with
 * {@link MessageDigest#isEqual} (constant time).
 */
public final class ScramServer {

    /** Where the exchange is. Every message is accepted in one state only. */
    public enum State { AWAITING_CLIENT_FIRST, AWAITING_CLIENT_FINAL, SUCCEEDED, FAILED }

    /** Why an exchange failed, for the failure counter; the client is told only "not authorized". */
    public enum FailureKind { MALFORMED, UNKNOWN_USER, BAD_PROOF }

    /** What the server answers to one client message. */
    public sealed interface Result permits Challenge, Success, Failure {
    }

    /** Send this server-first message and wait for the client-final one. */
    public record Challenge(byte[] serverFirst) implements Result {
    }

    /** The client proved it knows the password of {@code user}; send {@code serverFinal} (the server's proof). */
    public record Success(String user, byte[] serverFinal) implements Result {
    }

    /** The exchange failed; {@code user} may be null (not known yet). */
    public record Failure(FailureKind kind, String user, String detail) implements Result {
    }

    private static final SecureRandom RANDOM = new SecureRandom();
    /** Key for the decoy salts of unknown users; lives only in this process. */
    private static final byte[] DECOY_KEY = randomBytes(32);
    private static final int SERVER_NONCE_BYTES = 18;

    private final ScramCredentialStore store;
    private final Supplier<String> serverNonces;
    private State state = State.AWAITING_CLIENT_FIRST;
    private ScramMessages.ClientFirst clientFirst;
    private String serverFirst;
    private String nonce;
    private ScramCredentials credentials;
    private boolean knownUser;

    public ScramServer(ScramCredentialStore store) {
        this(store, () -> Base64.getEncoder().encodeToString(randomBytes(SERVER_NONCE_BYTES)));
    }

    /** With a chosen server nonce: for RFC 7677's test vector only. */
    ScramServer(ScramCredentialStore store, Supplier<String> serverNonces) {
        this.store = store;
        this.serverNonces = serverNonces;
    }

    public State state() {
        return state;
    }

    public Result clientFirst(byte[] message) {
        if (state != State.AWAITING_CLIENT_FIRST) {
            throw new IllegalStateException("client-first message in state " + state);
        }
        try {
            clientFirst = ScramMessages.parseClientFirst(message);
        } catch (ScramException e) {
            return fail(FailureKind.MALFORMED, null, e.getMessage());
        }
        String user = clientFirst.user();
        credentials = store.find(user);
        knownUser = credentials != null;
        if (!knownUser) {
            credentials = decoy(user, store.decoyIterations());
        }
        nonce = clientFirst.nonce() + serverNonces.get();
        serverFirst = ScramMessages.serverFirst(nonce, credentials.salt(), credentials.iterations());
        state = State.AWAITING_CLIENT_FINAL;
        return new Challenge(serverFirst.getBytes(StandardCharsets.UTF_8));
    }

    public Result clientFinal(byte[] message) {
        if (state != State.AWAITING_CLIENT_FINAL) {
            throw new IllegalStateException("client-final message in state " + state);
        }
        String user = clientFirst.user();
        ScramMessages.ClientFinal last;
        try {
            last = ScramMessages.parseClientFinal(message);
        } catch (ScramException e) {
            return fail(FailureKind.MALFORMED, user, e.getMessage());
        }
        if (!last.channelBinding().equals(clientFirst.gs2Header())) {
            return fail(FailureKind.MALFORMED, user, "channel binding 'c=' does not match the client-first gs2 header");
        }
        if (!MessageDigest.isEqual(last.nonce().getBytes(StandardCharsets.UTF_8), nonce.getBytes(StandardCharsets.UTF_8))) {
            return fail(FailureKind.MALFORMED, user, "nonce 'r=' differs from the one the server sent");
        }
        byte[] authMessage = (clientFirst.bare() + "," + serverFirst + "," + last.withoutProof())
                .getBytes(StandardCharsets.UTF_8);
        byte[] storedKey = credentials.storedKey();
        byte[] clientSignature = ScramCrypto.hmac(storedKey, authMessage);
        byte[] clientKey = ScramCrypto.xor(last.proof(), clientSignature);
        boolean proofOk = MessageDigest.isEqual(ScramCrypto.sha256(clientKey), storedKey);
        Arrays.fill(clientKey, (byte) 0);
        if (!knownUser) {
            return fail(FailureKind.UNKNOWN_USER, user, "no SCRAM-SHA-256 entry for the user");
        }
        if (!proofOk) {
            return fail(FailureKind.BAD_PROOF, user, "client proof does not match (wrong password)");
        }
        byte[] serverSignature = ScramCrypto.hmac(credentials.serverKey(), authMessage);
        state = State.SUCCEEDED;
        return new Success(user, ScramMessages.serverFinal(serverSignature).getBytes(StandardCharsets.UTF_8));
    }

    private Failure fail(FailureKind kind, String user, String detail) {
        state = State.FAILED;
        return new Failure(kind, user, detail);
    }

    /** Same values for the same user name within this process; matches no proof (nobody knows ClientKey). */
    private static ScramCredentials decoy(String user, int iterations) {
        byte[] salt = Arrays.copyOf(ScramCrypto.hmac(DECOY_KEY, "salt:" + user), 16);
        return new ScramCredentials(salt, Math.max(iterations, ScramCredentials.MIN_ITERATIONS),
                ScramCrypto.hmac(DECOY_KEY, "stored:" + user), ScramCrypto.hmac(DECOY_KEY, "server:" + user));
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }
}
