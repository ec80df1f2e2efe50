package io.durablemq.broker.metrics;

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

import java.net.BindException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every stage of a QoS 1/2 publish is recorded in /metrics by a running broker: a real Paho
 * client publishes over loopback, and the scrape must count each message once in the per-message
 * stages (decode, route, completion, loop_hop, send), and at least one batch in batch_wait and in the
 * commit latency (write+fsync). QoS 0 publishes are not counted.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PublishStageMetricsTest {
    private static final Pattern STAGE_COUNT =
            Pattern.compile("^durablemq_publish_stage_seconds_count\\{.*stage=\"([a-z_]+)\".*} ([0-9.eE+]+)$", Pattern.MULTILINE);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void eachStageCountsEveryQos1And2Publish(@TempDir Path data) throws Exception {
        try (BrokerServer broker = startWithMetrics(data)) {
            MqttClient publisher = new MqttClient(TestBrokers.tcpUri(broker), "stages-pub", new MemoryPersistence());
            MqttConnectOptions o = new MqttConnectOptions();
            o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
            o.setCleanSession(true);
            publisher.setTimeToWait(10_000);
            publisher.connect(o);
            for (int i = 0; i < 3; i++) {
                // publish() returns once PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived
                publisher.publish("stages/q1", new byte[] {1}, 1, false);
                publisher.publish("stages/q2", new byte[] {2}, 2, false);
                publisher.publish("stages/q0", new byte[] {0}, 0, false);
            }
            publisher.disconnect(2_000);
            publisher.close(true);

            URI metrics = URI.create("http://127.0.0.1:" + broker.metricsPort() + "/metrics");
            Map<String, Double> counts;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            do {
                // send is recorded when the PUBACK's write completes, which may be just after the client read it
                counts = stageCounts(scrape(metrics));
                if (counts.getOrDefault("send", 0.0) >= 6) {
                    break;
                }
                Thread.sleep(100);
            } while (System.nanoTime() < deadline);

            for (String perMessage : new String[] {"decode", "route", "completion", "loop_hop", "send"}) {
                assertEquals(6.0, counts.get(perMessage), perMessage + " counts each QoS 1/2 publish once: " + counts);
            }
            assertTrue(counts.get("batch_wait") >= 1, "batch_wait counts batches: " + counts);
        }
    }

    /**
     * The subscriber's side: a real Paho subscriber at QoS 2 receives QoS 0, 1 and 2 messages
     * over loopback, and deliver_wait (engine: the send may go until it is handed to the
     * connection), deliver_hop and deliver (broker: that hand-off until the PUBLISH's task runs on
     * the event loop, and until it is written and flushed) and deliver_total (the send built in
     * the engine until flushed) count each QoS 1/2 PUBLISH once, QoS 0 never. The publisher's stages are unchanged by it.
     */
    @Test
    void deliverStagesCountEveryQos1And2PublishToASubscriber(@TempDir Path data) throws Exception {
        try (BrokerServer broker = startWithMetrics(data)) {
            MqttConnectOptions o = new MqttConnectOptions();
            o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
            o.setCleanSession(true);
            MqttClient subscriber = new MqttClient(TestBrokers.tcpUri(broker), "stages-sub", new MemoryPersistence());
            subscriber.setTimeToWait(10_000);
            ArrivalLatch received = new ArrivalLatch(9);
            subscriber.setCallback(received);
            subscriber.connect(o);
            subscriber.subscribe("stages/#", 2);
            MqttClient publisher = new MqttClient(TestBrokers.tcpUri(broker), "stages-pub", new MemoryPersistence());
            publisher.setTimeToWait(10_000);
            publisher.connect(o);
            for (int i = 0; i < 3; i++) {
                publisher.publish("stages/q1", new byte[] {1}, 1, false);
                publisher.publish("stages/q2", new byte[] {2}, 2, false);
                publisher.publish("stages/q0", new byte[] {0}, 0, false);
            }
            assertTrue(received.await(15), "all 9 delivered");

            URI metrics = URI.create("http://127.0.0.1:" + broker.metricsPort() + "/metrics");
            Map<String, Double> counts;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            do {
                // deliver is recorded after the drain's flush, which may be just after the client read it
                counts = stageCounts(scrape(metrics));
                if (counts.getOrDefault("deliver_total", 0.0) >= 6 && counts.getOrDefault("send", 0.0) >= 6) {
                    break;
                }
                Thread.sleep(100);
            } while (System.nanoTime() < deadline);
            publisher.disconnect(2_000);
            publisher.close(true);
            subscriber.disconnect(2_000);
            subscriber.close(true);

            for (String perDelivery : new String[] {"deliver_wait", "deliver_hop", "deliver", "deliver_total", "route", "send"}) {
                assertEquals(6.0, counts.get(perDelivery), perDelivery + " counts each QoS 1/2 message once: " + counts);
            }
        }
    }

    private static Map<String, Double> stageCounts(String scrape) {
        Map<String, Double> counts = new TreeMap<>();
        Matcher m = STAGE_COUNT.matcher(scrape);
        while (m.find()) {
            counts.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return counts;
    }

    private static String scrape(URI metrics) throws Exception {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(metrics).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertEquals(200, response.statusCode(), "GET " + metrics);
        return response.body();
    }

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
}
