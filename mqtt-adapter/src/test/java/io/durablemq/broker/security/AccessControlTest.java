package io.durablemq.broker.security;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AccessControlTest {

    @TempDir
    Path dir;

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
    private final Logger logger = (Logger) LoggerFactory.getLogger(AccessControl.class);

    @BeforeEach
    void captureLogs() {
        logs.start();
        logger.addAppender(logs);
    }

    @AfterEach
    void releaseLogs() {
        logger.detachAppender(logs);
    }

    private static byte[] pw(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private double failures(String reason) {
        return registry.get("durablemq.auth.failures").tag("reason", reason).counter().count();
    }

    private Path passwordFile() throws Exception {
        Path f = dir.resolve("passwd");
        Files.write(f, List.of(
                "# Moquette format, sha256 of 'legacy-pass'",
                "old:" + PasswordHash.Sha256Hex.of(pw("legacy-pass")).encoded(),
                "new:" + PasswordHash.pbkdf2("fresh-pass".toCharArray(), 1_000).encoded()));
        return f;
    }

    @Test
    void passwordFileWithBothFormatsAndCountedFailures() throws Exception {
        BrokerConfig config = BrokerConfig.defaults().toBuilder().passwordFile(passwordFile())
                .allowAnonymous(false).build();
        AccessControl ac = AccessControl.fromConfig(config, registry);

        assertTrue(ac.authenticate("c1", "old", pw("legacy-pass")));
        assertTrue(ac.authenticate("c2", "new", pw("fresh-pass")));
        assertTrue(ac.authenticate("c2", "new", pw("fresh-pass")), "second check (cached) agrees");
        assertFalse(ac.authenticate("c3", "new", pw("wrong-pass-123")));
        assertFalse(ac.authenticate("c3", "old", pw("wrong-pass-456")));
        assertFalse(ac.authenticate("c4", "nobody", pw("whatever-789")));
        assertFalse(ac.authenticate("c5", null, null));
        assertFalse(ac.authenticate("c6", "new", null));

        assertEquals(3, failures("bad_password"));
        assertEquals(1, failures("unknown_user"));
        assertEquals(1, failures("anonymous_refused"));
        assertEquals(0, failures("error"));

        List<String> lines = logs.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        assertTrue(lines.stream().anyMatch(l -> l.contains("login refused (bad_password): client 'c3' user 'new'")),
                lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("unsalted SHA-256") && l.contains("old")), lines.toString());
        for (String secret : List.of("wrong-pass-123", "wrong-pass-456", "whatever-789", "fresh-pass", "legacy-pass")) {
            assertTrue(lines.stream().noneMatch(l -> l.contains(secret)), "password " + secret + " was logged");
        }
    }

    @Test
    void asyncChecksRunOffTheCallerAndCopyThePassword() throws Exception {
        BrokerConfig config = BrokerConfig.defaults().toBuilder().passwordFile(passwordFile()).build();
        AccessControl ac = AccessControl.fromConfig(config, registry);
        byte[] good = pw("fresh-pass");
        var ok = ac.authenticateAsync("c", "new", good);
        java.util.Arrays.fill(good, (byte) 0); // the caller clears its array at once
        assertTrue(ok.get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertFalse(ac.authenticateAsync("c", "new", pw("bad")).get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertTrue(ac.authenticateAsync("c", null, null).isDone(), "anonymous needs no thread hop");
        assertEquals(1, failures("bad_password"));

        AccessControl plugin = AccessControl.fromConfig(BrokerConfig.defaults().toBuilder()
                .authenticatorClass(TestAuthenticator.class.getName())
                .properties(Map.of("plugin.test.password", "p")).build(), new SimpleMeterRegistry());
        assertTrue(plugin.authenticateAsync("c", "u", pw("p")).get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertTrue(TestAuthenticator.lastThread.getName().startsWith("durablemq-auth-"),
                TestAuthenticator.lastThread.getName());
    }

    @Test
    void anonymousAllowedByDefaultAndUsersAcceptedWithoutPasswordFile() throws Exception {
        AccessControl ac = AccessControl.fromConfig(BrokerConfig.defaults(), registry);
        assertTrue(ac.authenticate("c", null, null));
        assertTrue(ac.authenticate("c", "anyone", pw("x")), "Moquette accepts any login without password_file");
        assertTrue(ac.canPublish("c", null, "any/topic"));
        assertTrue(ac.canSubscribe("c", null, "#"));
    }

    @Test
    void noAuthenticatorAndNoAnonymousRefusesEveryone() throws Exception {
        AccessControl ac = AccessControl.fromConfig(BrokerConfig.defaults().toBuilder().allowAnonymous(false).build(),
                registry);
        assertFalse(ac.authenticate("c", null, null));
        assertFalse(ac.authenticate("c", "u", pw("p")));
        assertEquals(1, failures("rejected"));
    }

    @Test
    void anonymousWithPasswordFileStillChecksNamedUsers() throws Exception {
        AccessControl ac = AccessControl.fromConfig(BrokerConfig.defaults().toBuilder().passwordFile(passwordFile())
                .build(), registry);
        assertTrue(ac.authenticate("c", null, null));
        assertFalse(ac.authenticate("c", "new", pw("nope")));
    }

    @Test
    void aclFileIsEnforcedIncludingSharedSubscriptions() throws Exception {
        Path acl = dir.resolve("acl");
        Files.write(acl, List.of("topic read public/#", "user alice", "topic readwrite alice/#",
                "pattern write devices/%c/#"));
        AccessControl ac = AccessControl.fromConfig(BrokerConfig.defaults().toBuilder().aclFile(acl).build(), registry);
        assertTrue(ac.canSubscribe("c", null, "public/a"));
        assertTrue(ac.canSubscribe("c", null, "$share/group/public/a"));
        assertFalse(ac.canSubscribe("c", null, "$share/group/private/a"));
        assertFalse(ac.canPublish("c", null, "public/a"));
        assertTrue(ac.canPublish("c", "alice", "alice/x"));
        assertTrue(ac.canPublish("d1", null, "devices/d1/t"));
        assertFalse(ac.canPublish("d2", null, "devices/d1/t"));
        assertEquals(2, registry.get("durablemq.acl.denied").tag("action", "publish").counter().count());
        assertEquals(1, registry.get("durablemq.acl.denied").tag("action", "subscribe").counter().count());
    }

    @Test
    void pluginClassesLoadByNameAndFailClosed() throws Exception {
        BrokerConfig config = BrokerConfig.defaults().toBuilder()
                .authenticatorClass(TestAuthenticator.class.getName())
                .authorizatorClass(ThrowingAuthorizator.class.getName())
                .properties(Map.of("plugin.test.password", "plugin-secret"))
                .build();
        AccessControl ac = AccessControl.fromConfig(config, registry);
        assertTrue(ac.authenticate("c", "u", pw("plugin-secret")));
        assertFalse(ac.authenticate("c", "u", pw("other")));
        assertFalse(ac.authenticate("c", "explode", pw("plugin-secret")), "a throwing authenticator refuses");
        assertEquals(1, failures("rejected"));
        assertEquals(1, failures("error"));
        assertTrue(ac.canPublish("c", "u", "open/x"));
        assertFalse(ac.canPublish("c", "u", "closed/x"));
        assertFalse(ac.canPublish("c", "u", "boom"), "a throwing authorizator denies");
        assertTrue(ac.canSubscribe("c", "u", "open/+"));
    }

    @Test
    void badPluginClassesAreConfigErrors() {
        BrokerConfig missing = BrokerConfig.defaults().toBuilder().authenticatorClass("com.example.Missing").build();
        assertEquals("authenticator_class: class com.example.Missing not found on the class path (put its jar next "
                        + "to the broker jar and add it to the class path)",
                assertThrows(BrokerConfigException.class, () -> AccessControl.fromConfig(missing, registry)).getMessage());
        BrokerConfig wrongType = BrokerConfig.defaults().toBuilder().authorizatorClass(TestAuthenticator.class.getName())
                .build();
        assertEquals("authorizator_class: class " + TestAuthenticator.class.getName()
                        + " does not implement io.moquette.broker.security.IAuthorizatorPolicy",
                assertThrows(BrokerConfigException.class, () -> AccessControl.fromConfig(wrongType, registry)).getMessage());
    }

    @Test
    void badPasswordFileLineIsAConfigError() throws Exception {
        Path f = dir.resolve("bad");
        Files.write(f, List.of("# ok", "alice:not-a-hash"));
        BrokerConfig config = BrokerConfig.defaults().toBuilder().passwordFile(f).build();
        assertEquals("password_file " + f + ":2: user 'alice': not a 64-digit SHA-256 hex nor a $pbkdf2-sha256$ hash",
                assertThrows(BrokerConfigException.class, () -> AccessControl.fromConfig(config, registry)).getMessage());
    }
}
