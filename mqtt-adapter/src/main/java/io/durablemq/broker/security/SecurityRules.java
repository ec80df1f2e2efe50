package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.config.PluginLoader;
import io.moquette.broker.security.IAuthenticator;
import io.moquette.broker.security.IAuthorizatorPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * The login check and the topic rules in force, one immutable value: {@link AccessControl}
 * swaps it whole on a reload, so a check never sees a new password file with old ACLs.
 *
 * @param authenticator null: no login check (any user name and password is accepted while
 *                      anonymous access is on, none when it is off)
 * @param authorizator  null: every topic is allowed
 */
public record SecurityRules(IAuthenticator authenticator, IAuthorizatorPolicy authorizator) {

    /** AccessControl's logger: one logger name for everything about logins and topic rules. */
    private static final Logger LOG = LoggerFactory.getLogger(AccessControl.class);

    /** No login check, no topic rules. */
    public static final SecurityRules NONE = new SecurityRules(null, null);

    /**
     * Loads what the config names: plugin classes, else the password and ACL files (a class, when
     * given, wins over the file, as in Moquette). Any bad line is an error naming file and line.
     */
    static SecurityRules load(BrokerConfig config) throws BrokerConfigException {
        IAuthenticator authenticator = null;
        if (config.authenticatorClass() != null) {
            authenticator = PluginLoader.load("authenticator_class", config.authenticatorClass(),
                    IAuthenticator.class, config);
            if (config.passwordFile() != null) {
                LOG.warn("both authenticator_class and password_file are set: {} is used, {} is not read",
                        config.authenticatorClass(), config.passwordFile());
            }
            LOG.info("logins checked by {}", config.authenticatorClass());
        } else if (config.passwordFile() != null) {
            authenticator = readPasswords(config, null);
        }
        IAuthorizatorPolicy authorizator = null;
        if (config.authorizatorClass() != null) {
            authorizator = PluginLoader.load("authorizator_class", config.authorizatorClass(),
                    IAuthorizatorPolicy.class, config);
            if (config.aclFile() != null) {
                LOG.warn("both authorizator_class and acl_file are set: {} is used, {} is not read",
                        config.authorizatorClass(), config.aclFile());
            }
            LOG.info("topic access checked by {}", config.authorizatorClass());
        } else if (config.aclFile() != null) {
            authorizator = readAcl(config);
        } else {
            LOG.info("no acl_file nor authorizator_class: every client may publish and subscribe to every topic");
        }
        return new SecurityRules(authenticator, authorizator);
    }

    /**
     * These rules with the password and ACL files read again (those in use: a plugin class set in
     * the config is kept as it is). Either both files are read without error and the new rules
     * are returned, or this throws and nothing changes.
     */
    SecurityRules reloadFiles(BrokerConfig config) throws BrokerConfigException {
        IAuthenticator newAuthenticator = authenticator;
        if (config.authenticatorClass() == null && config.passwordFile() != null) {
            newAuthenticator = readPasswords(config,
                    authenticator instanceof PasswordAuthenticator p ? p : null);
        }
        IAuthorizatorPolicy newAuthorizator = authorizator;
        if (config.authorizatorClass() == null && config.aclFile() != null) {
            newAuthorizator = readAcl(config);
        }
        return new SecurityRules(newAuthenticator, newAuthorizator);
    }

    /** True when a reload has something to read: a password_file or acl_file not overridden by a class. */
    static boolean hasFiles(BrokerConfig config) {
        return (config.authenticatorClass() == null && config.passwordFile() != null)
                || (config.authorizatorClass() == null && config.aclFile() != null);
    }

    private static PasswordAuthenticator readPasswords(BrokerConfig config, PasswordAuthenticator previous)
            throws BrokerConfigException {
        PasswordFile file = PasswordFile.read(config.passwordFile());
        PasswordAuthenticator authenticator = previous == null ? new PasswordAuthenticator(file) : previous.reloaded(file);
        LOG.info("logins checked against {} ({} users)", file.path(), file.size());
        List<String> legacy = file.legacyUsers();
        if (!legacy.isEmpty()) {
            LOG.warn("{}: {} user(s) use Moquette's unsalted SHA-256 format ({}); re-set them with "
                    + "'durablemq passwd {} USER' to store a salted PBKDF2 hash", file.path(), legacy.size(),
                    legacy.size() <= 5 ? String.join(", ", legacy) : String.join(", ", legacy.subList(0, 5)) + ", ...",
                    file.path());
        }
        return authenticator;
    }

    private static AclRules readAcl(BrokerConfig config) throws BrokerConfigException {
        AclRules rules = AclRules.read(config.aclFile());
        LOG.info("topic access checked against {} ({} rules)", config.aclFile(), rules.ruleCount());
        return rules;
    }
}
