package io.durablemq.broker.config;

/**
 * Whether clients without a user name may connect: the {@code allow_anonymous} key, with
 * Mosquitto 2's rule for when it is not set. A broker that anyone on the network can reach must
 * not accept anyone by accident, while a first start on a developer's machine must just work.
 */
public enum AnonymousAccess {
    /**
     * {@code allow_anonymous} not set: anonymous clients are accepted while every MQTT listener
     * is loopback-only; a broker listening on another address with no password_file and no
     * authenticator_class refuses to start (see {@link #startProblem}).
     */
    LOOPBACK_ONLY,
    /** {@code allow_anonymous true}: accepted on every listener, the operator said so. */
    ALLOWED,
    /** {@code allow_anonymous false}: refused; with no password_file nor authenticator_class every client is. */
    REFUSED;

    /** The key's value as read from a config file or a builder. */
    public static AnonymousAccess of(boolean allowAnonymous) {
        return allowAnonymous ? ALLOWED : REFUSED;
    }

    /** Are clients without a user name accepted, given whether every listener is loopback-only? */
    public boolean allows(boolean loopbackOnly) {
        return switch (this) {
            case LOOPBACK_ONLY -> loopbackOnly;
            case ALLOWED -> true;
            case REFUSED -> false;
        };
    }

    /**
     * Why a broker with these settings must not start, naming the keys that fix it; null when it may.
     * Only an unset {@code allow_anonymous} on a listener reachable from other hosts, with nothing
     * that checks logins, is refused.
     */
    public static String startProblem(BrokerConfig config) {
        if (config.anonymous() != LOOPBACK_ONLY || config.loopbackOnly()
                || config.passwordFile() != null || config.authenticatorClass() != null) {
            return null;
        }
        return "host " + config.host() + " accepts clients from other machines, but no login check is "
                + "configured and allow_anonymous is not set: set password_file (add users with "
                + "'durablemq passwd FILE USER') or authenticator_class, or set 'allow_anonymous true' to accept "
                + "anonymous clients from the network on purpose, or bind 'host 127.0.0.1' (loopback only, "
                + "where anonymous clients are accepted by default)";
    }
}
