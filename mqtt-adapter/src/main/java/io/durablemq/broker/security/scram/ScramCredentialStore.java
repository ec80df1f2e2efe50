package io.durablemq.broker.security.scram;

/** Where {@link ScramServer} finds a user's stored SCRAM values (the password file). */
public interface ScramCredentialStore {

    /** The user's SCRAM-SHA-256 entry, or null when the user is unknown or has no SCRAM entry. */
    ScramCredentials find(String user);

    /**
     * The iteration count announced for users that have no entry, chosen like the real entries'
     * so the server-first message does not tell a prober which user names exist.
     */
    int decoyIterations();
}
