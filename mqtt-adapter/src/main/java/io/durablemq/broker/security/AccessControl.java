package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.config.AnonymousAccess;
import io.durablemq.broker.security.scram.ScramCredentialStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.moquette.broker.security.IAuthenticator;
import io.moquette.broker.security.IAuthorizatorPolicy;
import io.moquette.broker.subscriptions.Topic;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Who may connect, publish and subscribe. Built from the Moquette keys: {@code allow_anonymous},
 * {@code password_file} or {@code authenticator_class} for logins, {@code acl_file} or
 * {@code authorizator_class} for topics (a class, when given, wins over the file, as in
 * Moquette). With no authorization configured everything is allowed.
 * <p>
 * Fails closed: a plugin that throws denies. Failed logins are logged without the password and
 * counted in {@code durablemq_auth_failures_total{reason}}; denied publishes and subscriptions
 * in {@code durablemq_acl_denied_total{action}}.
 * <p>
 * The password and ACL files are read again by {@link SecurityReloader} (SIGHUP, {@code POST
 * /admin/reload}); every check reads the rules in force through one volatile reference.
 * <p>
 * Thread-safe. {@link #authenticate} may take hundreds of milliseconds on a PBKDF2 password's
 * first check: on a Netty event loop use {@link #authenticateAsync}.
 */
public final class AccessControl {

    private static final Logger LOG = LoggerFactory.getLogger(AccessControl.class);

    /** Why a login was refused; the {@code reason} tag of the failure counter. */
    public enum Failure { ANONYMOUS_REFUSED, UNKNOWN_USER, BAD_PASSWORD, REJECTED, ERROR, OVERLOADED }

    /** Logins waiting for a check thread beyond this are refused (reason overloaded), never queued without bound. */
    static final int MAX_PENDING_LOGINS = 10_000;

    private final boolean allowAnonymous;
    /** Read once per check, so a check sees one consistent set; replaced whole by a reload. */
    private volatile SecurityRules rules;
    private final Map<Failure, Counter> failures = new EnumMap<>(Failure.class);
    private final Counter deniedPublish;
    private final Counter deniedSubscribe;
    /** Runs password checks off the network threads; created on first use. */
    private volatile ExecutorService checkers;

    /**
     * @param authenticator null: every user name and password is accepted (Moquette's behaviour
     *                      without password_file), unless anonymous access is off, then none is
     * @param authorizator  null: everything is allowed
     */
    public AccessControl(boolean allowAnonymous, IAuthenticator authenticator, IAuthorizatorPolicy authorizator,
                         MeterRegistry registry) {
        this.allowAnonymous = allowAnonymous;
        this.rules = new SecurityRules(authenticator, authorizator);
        for (Failure f : Failure.values()) {
            failures.put(f, Counter.builder("durablemq.auth.failures")
                    .description("CONNECTs refused for bad or missing credentials")
                    .tag("reason", f.name().toLowerCase(Locale.ROOT))
                    .register(registry));
        }
        deniedPublish = Counter.builder("durablemq.acl.denied").description("publishes and subscriptions refused by ACL")
                .tag("action", "publish").register(registry);
        deniedSubscribe = Counter.builder("durablemq.acl.denied").description("publishes and subscriptions refused by ACL")
                .tag("action", "subscribe").register(registry);
    }

    /**
     * The access control a broker with these settings starts with. Refuses (naming the keys to
     * set) a listener reachable from other machines with no login check and {@code allow_anonymous}
     * not set: Mosquitto 2's rule, see {@link AnonymousAccess}.
     */
    public static AccessControl fromConfig(BrokerConfig config, MeterRegistry registry) throws BrokerConfigException {
        String problem = AnonymousAccess.startProblem(config);
        if (problem != null) {
            throw new BrokerConfigException((config.configFile() == null ? "" : config.configFile() + ": ") + problem);
        }
        SecurityRules rules = SecurityRules.load(config);
        boolean allowAnonymous = config.allowAnonymous();
        if (allowAnonymous) {
            LOG.info(config.anonymous() == AnonymousAccess.LOOPBACK_ONLY
                    ? "anonymous clients (no user name) are accepted: every listener is loopback-only"
                    : "anonymous clients (no user name) are accepted (allow_anonymous true); set "
                      + "'allow_anonymous false' to refuse them");
        } else if (config.anonymous() == AnonymousAccess.LOOPBACK_ONLY) {
            LOG.info("anonymous clients (no user name) are refused: a listener is reachable from other machines "
                    + "(set 'allow_anonymous true' to accept them)");
        }
        AccessControl access = new AccessControl(allowAnonymous, null, null, registry);
        access.rules = rules;
        return access;
    }

    /**
     * Checks a CONNECT's credentials. A null user name is an anonymous client. Never logs the password.
     */
    public boolean authenticate(String clientId, String username, byte[] password) {
        IAuthenticator authenticator = rules.authenticator();
        if (username == null) {
            if (allowAnonymous) {
                return true;
            }
            return fail(Failure.ANONYMOUS_REFUSED, clientId, null, null);
        }
        if (authenticator == null) {
            return allowAnonymous || fail(Failure.REJECTED, clientId, username,
                    "no password_file nor authenticator_class is configured and allow_anonymous is false");
        }
        try {
            if (authenticator instanceof PasswordAuthenticator passwords) {
                return switch (passwords.verify(username, password)) {
                    case OK -> true;
                    case UNKNOWN_USER -> fail(Failure.UNKNOWN_USER, clientId, username, null);
                    case BAD_PASSWORD -> fail(Failure.BAD_PASSWORD, clientId, username, null);
                };
            }
            return authenticator.checkValid(clientId, username, password)
                    || fail(Failure.REJECTED, clientId, username, "refused by " + authenticator.getClass().getName());
        } catch (RuntimeException | LinkageError e) {
            LOG.error("authenticator {} threw for client '{}' user '{}'; login refused",
                    authenticator.getClass().getName(), clientId, username, e);
            return fail(Failure.ERROR, clientId, username, e.toString());
        }
    }

    /**
     * {@link #authenticate} on a small pool of checker threads, for callers on a Netty event loop:
     * a PBKDF2 check or a remote authenticator plugin must not stall other connections. Anonymous
     * logins and configurations without an authenticator complete at once. The password array is
     * copied, so the caller may clear its own. Complete the CONNECT on the channel's event loop,
     * e.g. {@code future.whenCompleteAsync(..., channel.eventLoop())}.
     */
    public CompletableFuture<Boolean> authenticateAsync(String clientId, String username, byte[] password) {
        if (username == null || rules.authenticator() == null) {
            return CompletableFuture.completedFuture(authenticate(clientId, username, password));
        }
        byte[] copy = password == null ? null : password.clone();
        try {
            return CompletableFuture.supplyAsync(() -> {
                try {
                    return authenticate(clientId, username, copy);
                } finally {
                    if (copy != null) {
                        Arrays.fill(copy, (byte) 0);
                    }
                }
            }, checkers());
        } catch (RejectedExecutionException e) {
            return CompletableFuture.completedFuture(fail(Failure.OVERLOADED, clientId, username,
                    MAX_PENDING_LOGINS + " logins are already waiting for a check"));
        }
    }

    /**
     * Where MQTT 5 enhanced authentication (SCRAM-SHA-256) finds its users: the password file's
     * {@code $scram-sha-256$} entries; null when logins are not checked against a password file
     * (an authenticator plugin, or none), and then no authentication method is offered.
     */
    public ScramCredentialStore scramCredentials() {
        // Read from the rules in force at each use: a reload may replace the password file.
        return rules.authenticator() instanceof PasswordAuthenticator passwords ? passwords : null;
    }

    /** Logs and counts a login refused by an enhanced authentication exchange (never with a secret). */
    public void enhancedAuthFailed(Failure failure, String clientId, String username, String detail) {
        fail(failure, clientId, username, detail);
    }

    private ExecutorService checkers() {
        ExecutorService e = checkers;
        if (e == null) {
            synchronized (this) {
                e = checkers;
                if (e == null) {
                    AtomicInteger n = new AtomicInteger();
                    int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
                    e = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS,
                            new ArrayBlockingQueue<>(MAX_PENDING_LOGINS), r -> {
                                Thread t = new Thread(r, "durablemq-auth-" + n.incrementAndGet());
                                t.setDaemon(true);
                                return t;
                            });
                    checkers = e;
                }
            }
        }
        return e;
    }

    private boolean fail(Failure failure, String clientId, String username, String detail) {
        failures.get(failure).increment();
        LOG.warn("login refused ({}): client '{}' user {}{}", failure.name().toLowerCase(Locale.ROOT), clientId,
                username == null ? "(none)" : "'" + username + "'", detail == null ? "" : ": " + detail);
        return false;
    }

    /** May the client publish to this topic name (also used for its will message)? */
    public boolean canPublish(String clientId, String username, String topic) {
        IAuthorizatorPolicy authorizator = rules.authorizator();
        if (authorizator == null) {
            return true;
        }
        boolean ok = check(authorizator, true, clientId, username, topic);
        if (!ok) {
            deniedPublish.increment();
            LOG.debug("publish to '{}' denied for client '{}' user '{}'", topic, clientId, username);
        }
        return ok;
    }

    /** May the client subscribe to this filter? For {@code $share/group/filter} the filter is checked. */
    public boolean canSubscribe(String clientId, String username, String topicFilter) {
        IAuthorizatorPolicy authorizator = rules.authorizator();
        if (authorizator == null) {
            return true;
        }
        boolean ok = check(authorizator, false, clientId, username, sharedFilterTarget(topicFilter));
        if (!ok) {
            deniedSubscribe.increment();
            LOG.debug("subscription to '{}' denied for client '{}' user '{}'", topicFilter, clientId, username);
        }
        return ok;
    }

    private static boolean check(IAuthorizatorPolicy authorizator, boolean write, String clientId, String username, String topic) {
        try {
            if (authorizator instanceof AclRules acl) {
                return write ? acl.canPublish(clientId, username, topic) : acl.canSubscribe(clientId, username, topic);
            }
            Topic t = new Topic(topic);
            return write ? authorizator.canWrite(t, username, clientId) : authorizator.canRead(t, username, clientId);
        } catch (RuntimeException | LinkageError e) {
            LOG.error("authorizator {} threw for client '{}' topic '{}'; access denied",
                    authorizator.getClass().getName(), clientId, topic, e);
            return false;
        }
    }

    /** The login check and topic rules in force now. */
    public SecurityRules rules() {
        return rules;
    }

    /**
     * Puts new rules in force at once for every later check: a connected client's next PUBLISH
     * and SUBSCRIBE (and its will) are checked against them; no decision is cached per connection.
     */
    void replaceRules(SecurityRules newRules) {
        rules = java.util.Objects.requireNonNull(newRules, "newRules");
    }

    /** {@code $share/group/a/b} -> {@code a/b}; anything else unchanged. */
    static String sharedFilterTarget(String filter) {
        if (filter.startsWith("$share/")) {
            int slash = filter.indexOf('/', "$share/".length());
            if (slash > 0) {
                return filter.substring(slash + 1);
            }
        }
        return filter;
    }
}
