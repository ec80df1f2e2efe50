package io.durablemq.broker;

import io.durablemq.broker.config.AnonymousAccess;
import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.security.PasswordFile;
import io.durablemq.broker.security.PasswordHash;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mosquitto 2's rule for anonymous clients, with real Paho v5 clients: accepted while every
 * listener is loopback-only; a listener open to the network needs a login check or an explicit
 * {@code allow_anonymous true}, else the broker refuses to start and names the keys to set.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AnonymousAccessTest {
    @TempDir
    Path dir;

    private Path configFile(String... lines) throws Exception {
        Path f = dir.resolve("broker.conf");
        List<String> all = new java.util.ArrayList<>(List.of("port 0", "metrics_endpoint_port 0",
                "data_path " + dir.resolve("data")));
        all.addAll(List.of(lines));
        Files.write(f, all);
        return f;
    }

    /** Connects over 127.0.0.1 (the only network tests use); returns the CONNACK failure code, or 0. */
    private static int connect(BrokerServer broker, String user, String password) throws Exception {
        MqttClient client = new MqttClient(TestBrokers.tcpUri(broker), "c-" + System.nanoTime(), new MemoryPersistence());
        MqttConnectionOptions o = new MqttConnectionOptions();
        o.setConnectionTimeout(10);
        if (user != null) {
            o.setUserName(user);
            o.setPassword(password.getBytes(StandardCharsets.UTF_8));
        }
        try {
            client.connect(o);
            client.disconnect();
            return 0;
        } catch (MqttException e) {
            return e.getReasonCode();
        } finally {
            client.close();
        }
    }

    @Test
    void openListenerWithoutLoginCheckRefusesToStartAndNamesTheKeys() throws Exception {
        Path file = configFile("host 0.0.0.0");
        BrokerConfig config = BrokerConfig.load(file);
        BrokerConfigException e = assertThrows(BrokerConfigException.class, () -> BrokerServer.start(config));
        String m = e.getMessage();
        for (String named : List.of(file.toAbsolutePath().normalize().toString(), "host 0.0.0.0", "password_file",
                "authenticator_class", "'allow_anonymous true'", "'host 127.0.0.1'", "durablemq passwd")) {
            assertTrue(m.contains(named), "message names " + named + ": " + m);
        }
        assertFalse(Files.exists(dir.resolve("data")), "refused before the store was opened");
    }

    @Test
    void loopbackDefaultAcceptsAnonymousClients() throws Exception {
        BrokerConfig defaults = BrokerConfig.defaults();
        assertEquals(AnonymousAccess.LOOPBACK_ONLY, defaults.anonymous());
        for (String loopback : List.of("127.0.0.1", "127.0.0.2", "localhost", "::1")) {
            assertTrue(defaults.toBuilder().host(loopback).build().allowAnonymous(), loopback);
        }
        assertFalse(defaults.toBuilder().host("0.0.0.0").build().allowAnonymous());
        assertTrue(BrokerConfig.load(configFile()).allowAnonymous(), "a file without host nor allow_anonymous");

        try (BrokerServer broker = BrokerServer.start(BrokerConfig.load(configFile()))) {
            assertEquals(0, connect(broker, null, null), "anonymous client on the loopback default");
            assertEquals(0, connect(broker, "anyone", "x"), "no login check configured: any user (as Moquette)");
        }
    }

    @Test
    void explicitAllowAnonymousTrueOnAllInterfacesStarts() throws Exception {
        try (BrokerServer broker = BrokerServer.start(BrokerConfig.load(configFile("host 0.0.0.0",
                "allow_anonymous true")))) {
            assertEquals(0, connect(broker, null, null));
        }
    }

    @Test
    void openListenerWithPasswordFileStartsAndRefusesAnonymousClients() throws Exception {
        Path passwords = dir.resolve("passwords.conf");
        PasswordFile.setUser(passwords, "alice", PasswordHash.pbkdf2("secret".toCharArray(), 1_000));
        try (BrokerServer broker = BrokerServer.start(BrokerConfig.load(configFile("host 0.0.0.0",
                "password_file passwords.conf")))) {
            assertEquals(0x86, connect(broker, null, null), "anonymous: refused (bad user name or password)");
            assertEquals(0, connect(broker, "alice", "secret"));
            assertEquals(0x86, connect(broker, "alice", "wrong"), "bad user name or password");
        }
    }

    @Test
    void explicitAllowAnonymousFalseWithoutPasswordFileRefusesEveryone() throws Exception {
        try (BrokerServer broker = BrokerServer.start(BrokerConfig.load(configFile("allow_anonymous false")))) {
            assertEquals(0x86, connect(broker, null, null), "anonymous refused");
            assertEquals(0x86, connect(broker, "anyone", "x"), "no login check to pass: every user refused");
        }
    }
}
