package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.security.PasswordFile;
import io.durablemq.broker.security.PasswordHash;
import io.durablemq.broker.security.SecurityReloader;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reloading the password and ACL files on a running broker ({@link BrokerServer#reloadSecurityFiles},
 * what SIGHUP and {@code POST /admin/reload} call), with real Paho v5 clients: connections stay,
 * new rules apply to the next publish and subscribe of clients already connected, and a file
 * with an error keeps the old rules.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class SecurityReloadTest {
    private static final int NOT_AUTHORIZED = 0x87;
    /** Low, so the test does not spend its time in PBKDF2. */
    private static final int ITERATIONS = 1_000;

    @TempDir
    Path dir;
    Path passwords;
    Path acl;
    BrokerServer broker;
    final List<MqttAsyncClient> clients = new java.util.ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        passwords = dir.resolve("passwords.conf");
        PasswordFile.setUser(passwords, "alice", PasswordHash.pbkdf2("alice-pw".toCharArray(), ITERATIONS));
        acl = dir.resolve("acl.conf");
        Files.write(acl, List.of("user alice", "topic readwrite alice/#", "topic readwrite shared/#"));
        BrokerConfig config = TestBrokers.config(dir.resolve("data")).toBuilder()
                .allowAnonymous(false).passwordFile(passwords).aclFile(acl).build();
        broker = AdminHttp.startWithMetrics(config);
    }

    @AfterEach
    void stop() throws Exception {
        for (MqttAsyncClient c : clients) {
            if (c.isConnected()) {
                c.disconnect().waitForCompletion(5_000);
            }
            c.close();
        }
        broker.close();
    }

    /** A connected client, or the CONNACK failure as an MqttException. */
    private MqttAsyncClient connect(String user, String password, BlockingQueue<String> received,
                                    AtomicReference<MqttDisconnectResponse> lost) throws MqttException {
        MqttAsyncClient c = new MqttAsyncClient(TestBrokers.tcpUri(broker), user + "-" + System.nanoTime(),
                new MemoryPersistence());
        c.setCallback(new PahoV5CallbackAdapter() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                received.add(topic + " " + new String(message.getPayload(), StandardCharsets.UTF_8));
            }

            @Override
            public void disconnected(MqttDisconnectResponse response) {
                lost.set(response);
            }
        });
        MqttConnectionOptions o = new MqttConnectionOptions();
        o.setUserName(user);
        o.setPassword(password.getBytes(StandardCharsets.UTF_8));
        o.setConnectionTimeout(10);
        try {
            c.connect(o).waitForCompletion(10_000);
        } catch (MqttException e) {
            c.close();
            throw e;
        }
        clients.add(c);
        return c;
    }

    private MqttAsyncClient connect(String user, String password) throws MqttException {
        return connect(user, password, new LinkedBlockingQueue<>(), new AtomicReference<>());
    }

    /** The CONNACK reason code: 0 accepted. */
    private int connectCode(String user, String password) {
        try {
            MqttAsyncClient c = connect(user, password);
            clients.remove(c);
            c.disconnect().waitForCompletion(5_000);
            c.close();
            return 0;
        } catch (MqttException e) {
            return e.getReasonCode();
        }
    }

    /** PUBACK reason code of a QoS 1 publish (0 success, 0x10 no matching subscribers). */
    private static int publish(MqttAsyncClient c, String topic, String payload) throws MqttException {
        IMqttToken token = c.publish(topic, payload.getBytes(StandardCharsets.UTF_8), 1, false);
        try {
            token.waitForCompletion(10_000);
        } catch (MqttException e) {
            return e.getReasonCode();
        }
        return token.getReasonCodes() == null ? 0 : token.getReasonCodes()[0];
    }

    /** SUBACK reason code of one filter at QoS 1. */
    private static int subscribe(MqttAsyncClient c, String filter) throws MqttException {
        IMqttToken token = c.subscribe(filter, 1);
        try {
            token.waitForCompletion(10_000);
        } catch (MqttException e) {
            return e.getReasonCode();
        }
        return token.getReasonCodes()[0];
    }

    private double reloads(String result) {
        return broker.meterRegistry().get("durablemq.security.reloads").tag("result", result).counter().count();
    }

    @Test
    void connectedClientKeepsItsConnectionAndIsCheckedAgainstTheNewRules() throws Exception {
        BlockingQueue<String> received = new LinkedBlockingQueue<>();
        AtomicReference<MqttDisconnectResponse> lost = new AtomicReference<>();
        MqttAsyncClient alice = connect("alice", "alice-pw", received, lost);
        assertEquals(1, subscribe(alice, "shared/#"), "granted QoS 1");
        assertEquals(0, publish(alice, "shared/a", "before"));
        assertEquals("shared/a before", received.poll(10, TimeUnit.SECONDS));
        assertEquals(0x86, connectCode("bob", "bob-pw"), "bob is not in the file yet");

        // The operator takes shared/# away from alice and adds bob, then reloads.
        Files.write(acl, List.of("user alice", "topic readwrite alice/#", "user bob", "topic readwrite bob/#"));
        PasswordFile.setUser(passwords, "bob", PasswordHash.pbkdf2("bob-pw".toCharArray(), ITERATIONS));
        SecurityReloader.Result r = broker.reloadSecurityFiles("test");
        assertTrue(r.ok(), r.message());
        assertEquals(1, reloads("ok"));

        assertTrue(alice.isConnected(), "the reload did not drop alice");
        assertNull(lost.get(), "no DISCONNECT, no connection loss");
        assertEquals(NOT_AUTHORIZED, publish(alice, "shared/b", "after"), "PUBACK 0x87: grant removed");
        assertEquals(NOT_AUTHORIZED, subscribe(alice, "shared/c"), "SUBACK 0x87: grant removed");
        assertEquals(1, subscribe(alice, "alice/#"), "what is still granted still works");
        assertEquals(0, publish(alice, "alice/x", "mine"));
        assertEquals("alice/x mine", received.poll(10, TimeUnit.SECONDS));
        assertNull(received.poll(200, TimeUnit.MILLISECONDS), "the refused publish to shared/b was not delivered");

        MqttAsyncClient bob = connect("bob", "bob-pw");
        assertEquals(1, subscribe(bob, "bob/#"));
        assertEquals(NOT_AUTHORIZED, subscribe(bob, "alice/#"));
        assertTrue(alice.isConnected());
    }

    @Test
    void changedPasswordIsCheckedAfterReloadDespiteTheRememberedLogin() throws Exception {
        assertEquals(0, connectCode("alice", "alice-pw"), "remembered as checked");
        PasswordFile.setUser(passwords, "alice", PasswordHash.pbkdf2("new-pw".toCharArray(), ITERATIONS));
        assertTrue(broker.reloadSecurityFiles("test").ok());
        assertEquals(0x86, connectCode("alice", "alice-pw"), "the old password no longer opens");
        assertEquals(0, connectCode("alice", "new-pw"));

        Files.write(passwords, List.of("# nobody"));
        assertTrue(broker.reloadSecurityFiles("test").ok());
        assertEquals(0x86, connectCode("alice", "new-pw"), "a removed user cannot log in");
    }

    @Test
    void brokenFileKeepsThePreviousRulesAndCountsTheFailure() throws Exception {
        MqttAsyncClient alice = connect("alice", "alice-pw");
        // A good password file (adds bob) with a broken ACL: neither is taken, the two go together.
        PasswordFile.setUser(passwords, "bob", PasswordHash.pbkdf2("bob-pw".toCharArray(), ITERATIONS));
        Files.write(acl, List.of("user alice", "topic readwrite alice/#", "topic sometimes shared/#"));
        try (LogCapture log = LogCapture.of(SecurityReloader.class)) {
            SecurityReloader.Result r = broker.reloadSecurityFiles("test");
            assertFalse(r.ok());
            String where = "acl_file " + acl + ":3:";
            assertTrue(r.message().contains(where) && r.message().contains("'sometimes' is not a permission"),
                    r.message());
            assertTrue(r.message().contains("previous rules stay"), r.message());
            assertEquals(1, log.linesContaining(where).size(), log.all().toString());
        }
        assertEquals(1, reloads("failed"));
        assertEquals(0, reloads("ok"));
        assertTrue(gauge("durablemq.security.reload.failed.timestamp")
                >= gauge("durablemq.security.rules.loaded.timestamp"), "the alert's condition: last reload failed");
        assertEquals(0x10, publish(alice, "shared/x", "old rules"), "old ACL still in force: accepted (no subscriber)");
        assertEquals(0x86, connectCode("bob", "bob-pw"), "the good password file was not taken alone");

        Files.write(passwords, List.of("alice:not-a-hash"));
        SecurityReloader.Result r = broker.reloadSecurityFiles("test");
        assertFalse(r.ok());
        assertTrue(r.message().contains("password_file " + passwords + ":1: user 'alice'"), r.message());
        assertEquals(2, reloads("failed"));
        assertEquals(0, connectCode("alice", "alice-pw"), "old passwords still in force");
        assertTrue(alice.isConnected());

        // Fixed files: the next reload succeeds and the alert condition clears.
        PasswordFile.setUser(dir.resolve("fixed.conf"), "alice", PasswordHash.pbkdf2("alice-pw".toCharArray(), ITERATIONS));
        Files.move(dir.resolve("fixed.conf"), passwords, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.write(acl, List.of("user alice", "topic readwrite alice/#"));
        assertTrue(broker.reloadSecurityFiles("test").ok());
        assertTrue(gauge("durablemq.security.rules.loaded.timestamp")
                >= gauge("durablemq.security.reload.failed.timestamp"));
        assertEquals(NOT_AUTHORIZED, publish(alice, "shared/x", "new rules"));
    }

    private double gauge(String name) {
        return broker.meterRegistry().get(name).gauge().value();
    }

    @Test
    void adminEndpointReloadsFromThisHost() throws Exception {
        PasswordFile.setUser(passwords, "bob", PasswordHash.pbkdf2("bob-pw".toCharArray(), ITERATIONS));
        HttpResponse<String> get = AdminHttp.send("GET", AdminHttp.uri(broker, "/admin/reload"));
        assertEquals(405, get.statusCode());
        assertEquals(0x86, connectCode("bob", "bob-pw"), "a GET reloads nothing");

        HttpResponse<String> ok = AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/reload"));
        assertEquals(200, ok.statusCode(), ok.body());
        assertTrue(ok.body().startsWith("{\"result\":\"ok\""), ok.body());
        assertEquals(0, connectCode("bob", "bob-pw"));

        Files.write(acl, List.of("bogus line"));
        HttpResponse<String> bad = AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/reload"));
        assertEquals(422, bad.statusCode(), bad.body());
        assertTrue(bad.body().contains("acl_file ") && bad.body().contains(":1: unknown keyword 'bogus'"), bad.body());

        String metrics = AdminHttp.send("GET", AdminHttp.uri(broker, "/metrics")).body();
        assertTrue(metrics.contains("durablemq_security_reloads_total{result=\"ok\"} 1.0"), metrics);
        assertTrue(metrics.contains("durablemq_security_reloads_total{result=\"failed\"} 1.0"), metrics);
        assertTrue(metrics.contains("durablemq_security_rules_loaded_timestamp_seconds "), metrics);
        assertTrue(metrics.contains("durablemq_security_reload_failed_timestamp_seconds "), metrics);
    }
}
