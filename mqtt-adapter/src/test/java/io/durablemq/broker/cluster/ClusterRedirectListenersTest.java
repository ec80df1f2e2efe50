package io.durablemq.broker.cluster;

import com.hivemq.client.mqtt.mqtt5.Mqtt5AsyncClient;
import com.hivemq.client.mqtt.mqtt5.Mqtt5Client;
import com.hivemq.client.mqtt.mqtt5.Mqtt5ClientBuilder;
import com.hivemq.client.mqtt.mqtt5.exceptions.Mqtt5ConnAckException;
import com.hivemq.client.mqtt.mqtt5.message.connect.connack.Mqtt5ConnAck;
import com.hivemq.client.mqtt.mqtt5.message.connect.connack.Mqtt5ConnAckReasonCode;
import io.durablemq.broker.config.TlsSettings;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Followers answer CONNECT on every listener the broker has, not only the plain port: real clients
 * (HiveMQ's MQTT 5 client over TLS and over WebSocket, Paho's MQTT 3.1.1 client over secure
 * WebSocket) get 0x9C with a Server Reference, or 0x03; the leader serves the same listeners.
 */
@Timeout(180)
class ClusterRedirectListenersTest {
    private static final String PASSWORD = "changeit";
    @TempDir
    Path tmp;
    @RegisterExtension
    final ClusterBrokers cluster = new ClusterBrokers();

    @Test
    void followersRedirectTlsAndWebSocketClientsAndTheLeaderServesThem() throws Exception {
        Path keyStore = tmp.resolve("server.p12");
        TrustManagerFactory trust = makeKeyStore(keyStore);
        int[] tls = ClusterBrokers.freePorts();
        int[] ws = ClusterBrokers.freePorts();
        int[] wss = ClusterBrokers.freePorts();
        int leader = cluster.startAll((i, b, props) -> {
            props.put("cluster_mqtt_tls_addresses", ClusterBrokers.addresses(tls));
            props.put("cluster_mqtt_websocket_addresses", ClusterBrokers.addresses(ws));
            return b.sslPort(tls[i]).websocketPort(ws[i]).secureWebsocketPort(wss[i])
                    .tls(new TlsSettings(keyStore, "pkcs12", PASSWORD, PASSWORD, false, null, null)).metricsPort(0);
        });
        int f = (leader + 1) % 3;

        // MQTT 5 over TLS and over WebSocket: Use another server, naming the leader's listener of the same kind
        // (cluster_mqtt_tls_addresses, cluster_mqtt_websocket_addresses; every node has its own ports here).
        Mqtt5ConnAckException overTls = refused(client("tls-5").serverPort(tls[f]).sslConfig()
                .trustManagerFactory(trust).applySslConfig().buildAsync());
        assertEquals(Mqtt5ConnAckReasonCode.USE_ANOTHER_SERVER, overTls.getMqttMessage().getReasonCode());
        String tlsReference = overTls.getMqttMessage().getServerReference().orElseThrow().toString();
        assertEquals("127.0.0.1:" + tls[leader], tlsReference);
        Mqtt5ConnAckException overWs = refused(client("ws-5").serverPort(ws[f]).webSocketConfig().serverPath("mqtt")
                .applyWebSocketConfig().buildAsync());
        assertEquals(Mqtt5ConnAckReasonCode.USE_ANOTHER_SERVER, overWs.getMqttMessage().getReasonCode());
        String wsReference = overWs.getMqttMessage().getServerReference().orElseThrow().toString();
        assertEquals("127.0.0.1:" + ws[leader], wsReference);
        // Following the reference with the same kind of client reaches the leader.
        Mqtt5AsyncClient followed = client("tls-followed").serverPort(Integer.parseInt(tlsReference.substring(tlsReference.lastIndexOf(':') + 1)))
                .sslConfig().trustManagerFactory(trust).applySslConfig().buildAsync();
        assertEquals(Mqtt5ConnAckReasonCode.SUCCESS, followed.connect().get(30, TimeUnit.SECONDS).getReasonCode());
        followed.disconnect().get(10, TimeUnit.SECONDS);
        Mqtt5AsyncClient followedWs = client("ws-followed").serverPort(Integer.parseInt(wsReference.substring(wsReference.lastIndexOf(':') + 1)))
                .webSocketConfig().serverPath("mqtt").applyWebSocketConfig().buildAsync();
        assertEquals(Mqtt5ConnAckReasonCode.SUCCESS, followedWs.connect().get(30, TimeUnit.SECONDS).getReasonCode());
        followedWs.disconnect().get(10, TimeUnit.SECONDS);

        // MQTT 3.1.1 over secure WebSocket: Server unavailable.
        SSLContext clientTls = SSLContext.getInstance("TLS");
        clientTls.init(null, trust.getTrustManagers(), null);
        MqttClient paho = new MqttClient("wss://127.0.0.1:" + wss[f] + "/mqtt", "wss-311", new MemoryPersistence());
        MqttConnectOptions o = new MqttConnectOptions();
        o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        o.setSocketFactory(clientTls.getSocketFactory());
        o.setConnectionTimeout(20);
        MqttException e = assertThrows(MqttException.class, () -> paho.connect(o));
        assertEquals(MqttException.REASON_CODE_BROKER_UNAVAILABLE, e.getReasonCode(), "CONNACK 0x03 over wss");
        paho.close();

        // The leader took the same listeners over from its redirector when it started serving.
        Mqtt5AsyncClient onLeader = client("tls-leader").serverPort(tls[leader]).sslConfig().trustManagerFactory(trust)
                .applySslConfig().buildAsync();
        Mqtt5ConnAck ack = onLeader.connect().get(30, TimeUnit.SECONDS);
        assertEquals(Mqtt5ConnAckReasonCode.SUCCESS, ack.getReasonCode());
        onLeader.publishWith().topic("t").qos(com.hivemq.client.mqtt.datatypes.MqttQos.AT_LEAST_ONCE)
                .payload("over tls".getBytes(StandardCharsets.UTF_8)).send().get(30, TimeUnit.SECONDS);
        onLeader.disconnect().get(10, TimeUnit.SECONDS);
        Mqtt5AsyncClient wsLeader = client("ws-leader").serverPort(ws[leader]).webSocketConfig().serverPath("mqtt")
                .applyWebSocketConfig().buildAsync();
        assertEquals(Mqtt5ConnAckReasonCode.SUCCESS, wsLeader.connect().get(30, TimeUnit.SECONDS).getReasonCode());
        wsLeader.disconnect().get(10, TimeUnit.SECONDS);
    }

    private static Mqtt5ClientBuilder client(String id) {
        return Mqtt5Client.builder().identifier(id).serverHost("127.0.0.1");
    }

    private static Mqtt5ConnAckException refused(Mqtt5AsyncClient client) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> client.connect().get(30, TimeUnit.SECONDS));
        return assertInstanceOf(Mqtt5ConnAckException.class, e.getCause());
    }

    /** A PKCS12 key store made by the JDK's keytool; returns a trust manager factory trusting its certificate. */
    private static TrustManagerFactory makeKeyStore(Path keyStore) throws Exception {
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
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        trusted.setCertificateEntry("server", server.getCertificate("server"));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trusted);
        return tmf;
    }
}
