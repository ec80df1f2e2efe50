package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.TlsSettings;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MQTT over TLS and over secure WebSocket, with a key store made by the JDK's keytool. */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class TlsListenersTest {
    private static final String PASSWORD = "changeit";
    @TempDir
    Path dir;
    BrokerServer broker;
    SSLContext clientTls;

    @BeforeEach
    void start() throws Exception {
        Path keyStore = dir.resolve("server.p12");
        Process p = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1",
                "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2",
                "-storetype", "PKCS12", "-keystore", keyStore.toString(), "-storepass", PASSWORD, "-keypass", PASSWORD))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);

        KeyStore server = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keyStore)) {
            server.load(in, PASSWORD.toCharArray());
        }
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("server", server.getCertificate("server"));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        clientTls = SSLContext.getInstance("TLS");
        clientTls.init(null, tmf.getTrustManagers(), null);

        BrokerConfig config = TestBrokers.config(dir.resolve("data")).toBuilder()
                .sslPort(0)
                .secureWebsocketPort(0)
                .tls(new TlsSettings(keyStore, "pkcs12", PASSWORD, PASSWORD, false, null, null))
                .build();
        broker = TestBrokers.start(config);
    }

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private void roundTrip(String uri, String clientId) throws Exception {
        MqttClient client = new MqttClient(uri, clientId, new MemoryPersistence());
        CompletableFuture<String> got = new CompletableFuture<>();
        MqttConnectOptions options = new MqttConnectOptions();
        options.setSocketFactory(clientTls.getSocketFactory());
        options.setConnectionTimeout(20);
        client.connect(options);
        client.subscribe("tls/" + clientId, 1, (topic, message) -> got.complete(new String(message.getPayload(), StandardCharsets.UTF_8)));
        client.publish("tls/" + clientId, "secret".getBytes(StandardCharsets.UTF_8), 1, false);
        assertEquals("secret", got.get(10, TimeUnit.SECONDS));
        client.disconnect();
        client.close();
    }

    @Test
    void mqttOverTls() throws Exception {
        assertTrue(broker.sslPort() > 0);
        roundTrip("ssl://127.0.0.1:" + broker.sslPort(), "tls-client");
    }

    @Test
    void mqttOverSecureWebSocket() throws Exception {
        assertTrue(broker.secureWebsocketPort() > 0);
        roundTrip("wss://127.0.0.1:" + broker.secureWebsocketPort() + "/mqtt", "wss-client");
    }
}
