package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads the password file and the ACL file again while the broker runs (SIGHUP, or
 * {@code POST /admin/reload}), without touching connections: the new rules apply from the
 * next CONNECT, PUBLISH and SUBSCRIBE on. A file with an error changes nothing: the rules in
 * force stay, and the log names the file, the line and the reason.
 * <p>
 * Meters: {@code durablemq_security_reloads_total{result="ok"|"failed"}},
 * {@code durablemq_security_rules_loaded_timestamp_seconds} (Unix time the rules in force were
 * read: at start, then at each successful reload) and
 * {@code durablemq_security_reload_failed_timestamp_seconds} (last failed reload, 0 if none):
 * while the second is above the first, the last reload failed and old rules are in force.
 * <p>
 * Only the two files are read again; every other key (including {@code allow_anonymous},
 * plugin classes, listeners) needs a restart.
 */
public final class SecurityReloader {
    private static final Logger LOG = LoggerFactory.getLogger(SecurityReloader.class);

    /** What one reload did; {@code message} is for the operator (log, HTTP answer). */
    public record Result(boolean ok, String message) { }

    private final BrokerConfig config;
    private final AccessControl access;
    private final Counter succeeded;
    private final Counter failed;
    private final AtomicLong loadedMillis = new AtomicLong(System.currentTimeMillis());
    private final AtomicLong failedMillis = new AtomicLong();

    /** @param access built from {@code config} just before (its rules count as loaded now) */
    public SecurityReloader(BrokerConfig config, AccessControl access, MeterRegistry registry) {
        this.config = config;
        this.access = access;
        succeeded = Counter.builder("durablemq.security.reloads").tag("result", "ok")
                .description("Reloads of password_file and acl_file, by result").register(registry);
        failed = Counter.builder("durablemq.security.reloads").tag("result", "failed")
                .description("Reloads of password_file and acl_file, by result").register(registry);
        Gauge.builder("durablemq.security.rules.loaded.timestamp", loadedMillis, m -> m.get() / 1e3)
                .baseUnit("seconds").description("Unix time the password and ACL rules in force were read")
                .strongReference(true).register(registry);
        Gauge.builder("durablemq.security.reload.failed.timestamp", failedMillis, m -> m.get() / 1e3)
                .baseUnit("seconds").description("Unix time of the last failed reload (0: none)")
                .strongReference(true).register(registry);
    }

    /**
     * Reads both files and puts them in force together, or neither. One reload at a time; a
     * PBKDF2 dummy hash is computed for a new password file, so this may take a second: call it
     * off the network threads.
     *
     * @param trigger what asked for it, for the log ("SIGHUP", "POST /admin/reload")
     */
    public synchronized Result reload(String trigger) {
        if (!SecurityRules.hasFiles(config)) {
            succeeded.increment();
            loadedMillis.set(System.currentTimeMillis());
            String message = "nothing to reload: neither password_file nor acl_file is in use";
            LOG.info("{}: {}", trigger, message);
            return new Result(true, message);
        }
        try {
            SecurityRules fresh = access.rules().reloadFiles(config);
            access.replaceRules(fresh);
            succeeded.increment();
            loadedMillis.set(System.currentTimeMillis());
            String message = "reloaded " + files() + "; connected clients are checked against the new rules "
                    + "from their next publish and subscribe";
            LOG.info("{}: {}", trigger, message);
            return new Result(true, message);
        } catch (BrokerConfigException | RuntimeException e) {
            failed.increment();
            failedMillis.set(System.currentTimeMillis());
            String message = "reload failed, the previous rules stay in force: " + e.getMessage();
            LOG.error("{}: {}", trigger, message);
            return new Result(false, message);
        }
    }

    /**
     * For a node that does not serve (a cluster follower: it has no rules in force, and reads the files
     * when it starts serving): reads both files to check them and puts nothing in force.
     */
    public static Result check(BrokerConfig config, String trigger) {
        if (!SecurityRules.hasFiles(config)) {
            return new Result(true, "nothing to reload: neither password_file nor acl_file is in use");
        }
        try {
            SecurityRules.load(config);
            String message = "password_file and acl_file checked, no error; nothing is in force on a node that does not"
                    + " serve: it reads them when it starts serving";
            LOG.info("{}: {}", trigger, message);
            return new Result(true, message);
        } catch (BrokerConfigException | RuntimeException e) {
            String message = "the files have an error (this node would refuse to serve with them): " + e.getMessage();
            LOG.error("{}: {}", trigger, message);
            return new Result(false, message);
        }
    }

    private String files() {
        StringBuilder out = new StringBuilder();
        if (config.authenticatorClass() == null && config.passwordFile() != null) {
            out.append("password_file ").append(config.passwordFile());
        }
        if (config.authorizatorClass() == null && config.aclFile() != null) {
            out.append(out.length() == 0 ? "" : " and ").append("acl_file ").append(config.aclFile());
        }
        return out.toString();
    }
}
