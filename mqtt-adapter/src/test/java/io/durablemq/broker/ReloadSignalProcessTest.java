package io.durablemq.broker;

import io.durablemq.broker.security.PasswordFile;
import io.durablemq.broker.security.PasswordHash;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The broker as an operator runs it ({@code io.durablemq.broker.Main --config FILE} in its own
 * JVM): {@code kill -HUP} reloads the password and ACL files and keeps the process and its
 * connections (the JVM's default for SIGHUP is to shut down); an open listener without a login
 * check exits 2 naming the keys.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ReloadSignalProcessTest {
    @TempDir
    Path dir;

    private static MqttAsyncClient client(BrokerProcess broker, String user, String password) throws MqttException {
        MqttAsyncClient c = new MqttAsyncClient(broker.uri(), user + "-" + System.nanoTime(), new MemoryPersistence());
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
        return c;
    }

    private static int publishCode(MqttAsyncClient c, String topic) throws MqttException {
        IMqttToken token = c.publish(topic, "m".getBytes(StandardCharsets.UTF_8), 1, false);
        try {
            token.waitForCompletion(10_000);
        } catch (MqttException e) {
            return e.getReasonCode();
        }
        return token.getReasonCodes() == null ? 0 : token.getReasonCodes()[0];
    }

    @Test
    void sighupReloadsPasswordAndAclFilesAndKeepsConnections() throws Exception {
        Path passwords = dir.resolve("passwords.conf");
        PasswordFile.setUser(passwords, "alice", PasswordHash.pbkdf2("alice-pw".toCharArray(), 1_000));
        Path acl = dir.resolve("acl.conf");
        Files.write(acl, List.of("user alice", "topic readwrite alice/#", "topic readwrite shared/#"));
        try (BrokerProcess broker = BrokerProcess.start(dir, dir.resolve("data"), "hup", List.of(), List.of(
                "host 127.0.0.1", "allow_anonymous false", "password_file " + passwords, "acl_file " + acl))) {
            MqttAsyncClient alice = client(broker, "alice", "alice-pw");
            assertEquals(0x10, publishCode(alice, "shared/a"), "granted (no subscriber)");
            assertEquals(0x86, assertThrows(MqttException.class, () -> client(broker, "bob", "bob-pw")).getReasonCode());

            PasswordFile.setUser(passwords, "bob", PasswordHash.pbkdf2("bob-pw".toCharArray(), 1_000));
            Files.write(acl, List.of("user alice", "topic readwrite alice/#"));
            broker.signal("HUP");

            // The reload runs on its own thread: poll (bounded) until bob is let in.
            MqttAsyncClient bob = null;
            for (int attempt = 0; attempt < 100 && bob == null; attempt++) {
                assertTrue(broker.process.isAlive(), "SIGHUP must not stop the broker:\n" + broker.output());
                try {
                    bob = client(broker, "bob", "bob-pw");
                } catch (MqttException notYet) {
                    Thread.sleep(200);
                }
            }
            assertTrue(bob != null, "bob could not log in after SIGHUP:\n" + broker.output());
            assertTrue(alice.isConnected(), "alice kept her connection across the reload");
            assertEquals(0x87, publishCode(alice, "shared/b"), "the removed grant applies to alice's next publish");
            assertEquals(0x10, publishCode(alice, "alice/x"));
            assertTrue(broker.output().contains("SIGHUP: reloaded password_file " + passwords), broker.output());
            bob.disconnect().waitForCompletion(5_000);
            bob.close();
            alice.disconnect().waitForCompletion(5_000);
            alice.close();
            assertEquals(0, broker.terminate(), "SIGTERM still stops it cleanly:\n" + broker.output());
        }
    }

    @Test
    void openListenerWithoutLoginCheckExitsWithTheKeysToSet() throws Exception {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> BrokerProcess.start(dir,
                dir.resolve("data"), "open", List.of(), List.of("host 0.0.0.0")));
        assertTrue(e.getMessage().contains("exited with 2"), e.getMessage());
        for (String key : List.of("password_file", "authenticator_class", "allow_anonymous true", "host 127.0.0.1")) {
            assertTrue(e.getMessage().contains(key), key + " in:\n" + e.getMessage());
        }
    }
}
