package io.durablemq.broker;

import com.hivemq.client.mqtt.datatypes.MqttUtf8String;
import com.hivemq.client.mqtt.mqtt5.Mqtt5AsyncClient;
import com.hivemq.client.mqtt.mqtt5.Mqtt5Client;
import com.hivemq.client.mqtt.mqtt5.Mqtt5ClientConfig;
import com.hivemq.client.mqtt.mqtt5.auth.Mqtt5EnhancedAuthMechanism;
import com.hivemq.client.mqtt.mqtt5.exceptions.Mqtt5ConnAckException;
import com.hivemq.client.mqtt.mqtt5.message.auth.Mqtt5Auth;
import com.hivemq.client.mqtt.mqtt5.message.auth.Mqtt5AuthBuilder;
import com.hivemq.client.mqtt.mqtt5.message.auth.Mqtt5EnhancedAuthBuilder;
import com.hivemq.client.mqtt.mqtt5.message.connect.Mqtt5Connect;
import com.hivemq.client.mqtt.mqtt5.message.connect.connack.Mqtt5ConnAck;
import com.hivemq.client.mqtt.mqtt5.message.connect.connack.Mqtt5ConnAckReasonCode;
import com.hivemq.client.mqtt.mqtt5.message.disconnect.Mqtt5Disconnect;
import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.security.PasswordHash;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SCRAM-SHA-256 enhanced authentication with a real MQTT 5 client: HiveMQ's client runs the
 * exchange through its {@link Mqtt5EnhancedAuthMechanism} API (CONNECT, AUTH continue, CONNACK;
 * {@code reauth()} for AUTH re-authenticate), with the tests' SCRAM client doing the math, and
 * refuses the connection itself if the broker's server-final signature does not verify.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EnhancedAuthHiveMqTest {
    @TempDir
    Path dir;
    BrokerServer broker;

    @BeforeEach
    void start() throws Exception {
        Path passwords = dir.resolve("passwords.conf");
        Files.writeString(passwords, "user:" + PasswordHash.scram("pencil".toCharArray(), 4096).encoded() + "\n");
        BrokerConfig config = TestBrokers.config(dir.resolve("data")).toBuilder()
                .allowAnonymous(false).passwordFile(passwords).build();
        broker = TestBrokers.start(config);
    }

    @AfterEach
    void stop() {
        broker.close();
    }

    /** SCRAM-SHA-256 for HiveMQ's client; records what happened for the test to check. */
    static final class ScramMechanism implements Mqtt5EnhancedAuthMechanism {
        final String user;
        final String password;
        final List<String> events = new CopyOnWriteArrayList<>();
        private volatile ScramTestClient exchange;

        ScramMechanism(String user, String password) {
            this.user = user;
            this.password = password;
        }

        @Override
        public MqttUtf8String getMethod() {
            return MqttUtf8String.of("SCRAM-SHA-256");
        }

        @Override
        public int getTimeout() {
            return 30;
        }

        @Override
        public CompletableFuture<Void> onAuth(Mqtt5ClientConfig config, Mqtt5Connect connect, Mqtt5EnhancedAuthBuilder auth) {
            exchange = new ScramTestClient(user, password);
            auth.data(exchange.clientFirst());
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<Void> onReAuth(Mqtt5ClientConfig config, Mqtt5AuthBuilder auth) {
            exchange = new ScramTestClient(user, password);
            auth.data(exchange.clientFirst());
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<Boolean> onContinue(Mqtt5ClientConfig config, Mqtt5Auth auth, Mqtt5AuthBuilder next) {
            try {
                next.data(exchange.clientFinal(bytes(auth.getData())));
                events.add("continue");
                return CompletableFuture.completedFuture(true);
            } catch (GeneralSecurityException e) {
                events.add("bad server-first");
                return CompletableFuture.completedFuture(false);
            }
        }

        @Override
        public CompletableFuture<Boolean> onAuthSuccess(Mqtt5ClientConfig config, Mqtt5ConnAck connAck) {
            boolean ok = connAck.getEnhancedAuth().flatMap(a -> a.getData())
                    .map(d -> exchange.verifyServerFinal(bytes(Optional.of(d)))).orElse(false);
            events.add(ok ? "server verified" : "server NOT verified");
            return CompletableFuture.completedFuture(ok);
        }

        @Override
        public CompletableFuture<Boolean> onReAuthSuccess(Mqtt5ClientConfig config, Mqtt5Auth auth) {
            boolean ok = exchange.verifyServerFinal(bytes(auth.getData()));
            events.add(ok ? "re-auth server verified" : "re-auth server NOT verified");
            return CompletableFuture.completedFuture(ok);
        }

        @Override
        public void onAuthRejected(Mqtt5ClientConfig config, Mqtt5ConnAck connAck) {
            events.add("rejected " + connAck.getReasonCode());
        }

        @Override
        public void onReAuthRejected(Mqtt5ClientConfig config, Mqtt5Disconnect disconnect) {
            events.add("re-auth rejected " + disconnect.getReasonCode());
        }

        @Override
        public void onAuthError(Mqtt5ClientConfig config, Throwable cause) {
            events.add("auth error " + cause);
        }

        @Override
        public void onReAuthError(Mqtt5ClientConfig config, Throwable cause) {
            events.add("re-auth error " + cause);
        }

        private static byte[] bytes(Optional<ByteBuffer> data) {
            ByteBuffer b = data.orElseThrow().duplicate();
            byte[] out = new byte[b.remaining()];
            b.get(out);
            return out;
        }
    }

    private Mqtt5AsyncClient client(String id, ScramMechanism mechanism) {
        return Mqtt5Client.builder().identifier(id).serverHost("127.0.0.1").serverPort(broker.mqttPort())
                .enhancedAuth(mechanism).buildAsync();
    }

    @Test
    void hivemqClientLogsInAndReauthenticatesWithScram() throws Exception {
        ScramMechanism scram = new ScramMechanism("user", "pencil");
        Mqtt5AsyncClient client = client("hive-scram", scram);
        Mqtt5ConnAck ack = client.connect().get(30, TimeUnit.SECONDS);
        assertEquals(Mqtt5ConnAckReasonCode.SUCCESS, ack.getReasonCode());
        assertEquals(List.of("continue", "server verified"), scram.events);

        client.reauth().get(30, TimeUnit.SECONDS);
        assertEquals(List.of("continue", "server verified", "continue", "re-auth server verified"), scram.events);
        assertTrue(client.getState().isConnected());
        client.disconnect().get(10, TimeUnit.SECONDS);
    }

    @Test
    void hivemqClientWithWrongPasswordIsRefusedNotAuthorized() throws Exception {
        ScramMechanism scram = new ScramMechanism("user", "crayon");
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> client("hive-wrong", scram).connect().get(30, TimeUnit.SECONDS));
        Mqtt5ConnAckException refused = assertInstanceOf(Mqtt5ConnAckException.class, e.getCause());
        assertEquals(Mqtt5ConnAckReasonCode.NOT_AUTHORIZED, refused.getMqttMessage().getReasonCode());
        assertEquals(List.of("continue", "rejected NOT_AUTHORIZED"), scram.events);
    }
}
