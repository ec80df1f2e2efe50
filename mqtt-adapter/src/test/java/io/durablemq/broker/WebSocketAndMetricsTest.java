package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MQTT over WebSocket, and the metrics / health / readiness endpoint. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WebSocketAndMetricsTest {
    @TempDir
    Path data;
    BrokerServer broker;

    @BeforeEach
    void start() throws Exception {
        BrokerConfig config = TestBrokers.config(data).toBuilder()
                .websocketPort(0)
                .metricsPort(TestBrokers.freePort())
                .build();
        broker = TestBrokers.start(config);
    }

    @AfterEach
    void stop() {
        broker.close();
    }

    @Test
    void mqttOverWebSocketInteroperatesWithTcp() throws Exception {
        String ws = "ws://127.0.0.1:" + broker.websocketPort() + "/mqtt";
        try (PahoV3 wsSub = PahoV3.connect(ws, "ws-sub", true);
             PahoV3 tcpPub = PahoV3.connect(TestBrokers.tcpUri(broker), "tcp-pub", true)) {
            wsSub.client.subscribe("ws/#", 2);
            tcpPub.publish("ws/a", "over websocket", 2);
            PahoV3.Received r = wsSub.next(5_000);
            assertNotNull(r);
            assertEquals("over websocket", r.payload());
            assertEquals(2, r.qos());
            wsSub.publish("ws/b", "back", 1);
            assertEquals("back", wsSub.next(5_000).payload());
        }
    }

    @Test
    void metricsHealthAndReadiness() throws Exception {
        try (PahoV3 c = PahoV3.connect(TestBrokers.tcpUri(broker), "metrics-client", true)) {
            c.client.subscribe("m/t", 1);
            c.publish("m/t", "x", 1);
            assertNotNull(c.next(5_000));
            HttpClient http = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + broker.metricsPort();
            HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, metrics.statusCode());
            String body = metrics.body();
            for (String name : new String[]{"durablemq_connections ", "durablemq_connections_opened_total",
                    "durablemq_messages_received_total", "jvm_memory_used_bytes", "process_cpu_usage"}) {
                assertTrue(body.contains(name), name + " exported");
            }
            assertTrue(body.contains("durablemq_connections 1.0"), "one connection open:\n" + grep(body, "durablemq_connections"));
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "/ready")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());
            assertEquals(404, http.send(HttpRequest.newBuilder(URI.create(base + "/nothing")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());
        }
    }

    private static String grep(String body, String prefix) {
        StringBuilder out = new StringBuilder();
        for (String line : body.split("\n")) {
            if (line.startsWith(prefix)) {
                out.append(line).append('\n');
            }
        }
        return out.toString();
    }
}
