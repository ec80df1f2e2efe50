package io.durablemq.broker.ops;

import io.durablemq.broker.ArrivalLatch;
import io.durablemq.broker.BrokerServer;
import io.durablemq.broker.TestBrokers;
import io.durablemq.broker.config.BrokerConfig;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.BindException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every series the Grafana dashboard and the Prometheus alert rules in ops/ query is
 * exported by a running broker's /metrics after ordinary traffic, so no panel stays empty
 * and no alert silently never fires because of a misspelt or unregistered metric.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DashboardMetricsExportedTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void everySeriesQueriedByTheDashboardAndAlertsIsExported(@TempDir Path data) throws Exception {
        Set<String> used = new TreeSet<>(OpsMetricNames.inDashboard(OpsMetricNames.opsFile("grafana/durablemq-dashboard.json")));
        used.addAll(OpsMetricNames.inRules(OpsMetricNames.opsFile("prometheus/alerts.yml")));
        // A single node has no cluster series; ClusterBrokerTest checks those against a cluster node.
        used.removeIf(OpsMetricNames::clusterOnly);
        assertTrue(used.size() >= 25, "the extractor found too few names to be reading the files: " + used);

        try (BrokerServer broker = startWithMetrics(data)) {
            publishAndReceiveAtEveryQos(TestBrokers.tcpUri(broker));
            // Micrometer registers the GC pause timer at the first collection it sees.
            System.gc();

            URI metrics = URI.create("http://127.0.0.1:" + broker.metricsPort() + "/metrics");
            Map<String, String> missing = Map.of();
            // Counters and timers of the final acknowledgements are updated just after the
            // client sees the message; allow the broker a moment to record them.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            do {
                Set<String> exported = OpsMetricNames.exportedSeries(scrape(metrics));
                missing = OpsMetricNames.missing(used, exported);
                if (missing.isEmpty()) {
                    break;
                }
                Thread.sleep(200);
            } while (System.nanoTime() < deadline);

            assertEquals(Map.of(), missing, "series queried in ops/ but not exported by the broker");
        }
    }

    /** The metrics port cannot be 0 (that disables it), so a free port is chosen, with retries for races. */
    private static BrokerServer startWithMetrics(Path data) throws Exception {
        BindException last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            BrokerConfig config = TestBrokers.config(data).toBuilder().metricsPort(TestBrokers.freePort()).build();
            try {
                return BrokerServer.start(config);
            } catch (BindException e) {
                last = e;
            }
        }
        throw last;
    }

    private static String scrape(URI metrics) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(metrics).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertEquals(200, response.statusCode(), "GET " + metrics);
        return response.body();
    }

    /** A subscriber at QoS 2 receives one message published at each QoS, with every handshake completed. */
    private static void publishAndReceiveAtEveryQos(String uri) throws Exception {
        ArrivalLatch received = new ArrivalLatch(3);
        MqttClient subscriber = new MqttClient(uri, "ops-subscriber", new MemoryPersistence());
        MqttClient publisher = new MqttClient(uri, "ops-publisher", new MemoryPersistence());
        try {
            subscriber.setTimeToWait(10_000);
            publisher.setTimeToWait(10_000);
            subscriber.setCallback(received);
            subscriber.connect(options(false));
            subscriber.subscribe("ops/#", 2);
            publisher.connect(options(true));
            for (int qos = 0; qos <= 2; qos++) {
                // publish() returns once the broker completed the QoS 1/2 handshake.
                publisher.publish("ops/qos" + qos, ("at qos " + qos).getBytes(StandardCharsets.UTF_8), qos, false);
            }
            // Nobody subscribes here: the broker's drop path for QoS 0 without subscribers runs too.
            publisher.publish("nobody/listens", new byte[] {1}, 0, false);
            assertTrue(received.await(10), "subscriber did not receive the three messages");
            // The persistent subscriber goes offline and a message queues for it, so the
            // per-session queue gauges (which list only sessions with a queue) have a row.
            subscriber.disconnect();
            publisher.publish("ops/queued", new byte[] {2}, 1, false);
        } finally {
            disconnectQuietly(publisher);
            disconnectQuietly(subscriber);
        }
    }

    private static MqttConnectOptions options(boolean cleanSession) {
        MqttConnectOptions o = new MqttConnectOptions();
        o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        o.setCleanSession(cleanSession);
        o.setAutomaticReconnect(false);
        o.setConnectionTimeout(10);
        return o;
    }

    private static void disconnectQuietly(MqttClient client) {
        try {
            if (client.isConnected()) {
                client.disconnect(2_000);
            }
            client.close(true);
        } catch (Exception ignored) {
            // the broker is stopped next anyway
        }
    }
}
