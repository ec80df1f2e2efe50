package io.durablemq.broker;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * A persistent session's offline queue survives the broker stopping: gracefully (same data
 * folder, in-process) and by SIGKILL of a broker process. Every message the publisher got an
 * ack for is delivered after the restart, none twice.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PersistentSessionRestartTest {
    @TempDir
    Path work;

    @Test
    void offlineQueueIsDeliveredAfterGracefulRestart() throws Exception {
        Path data = work.resolve("data");
        BrokerServer broker = TestBrokers.start(TestBrokers.config(data));
        try {
            try (PahoV3 sub = PahoV3.connect(TestBrokers.tcpUri(broker), "graceful-sub", false)) {
                sub.client.subscribe("graceful/#", 2);
            }
            try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "graceful-pub", true)) {
                for (int i = 0; i < 100; i++) {
                    pub.publish("graceful/" + (i % 3), Integer.toString(i), 1 + i % 2);
                }
            }
        } finally {
            broker.close();
        }
        broker = TestBrokers.start(TestBrokers.config(data));
        try (PahoV3 sub = new PahoV3(TestBrokers.tcpUri(broker), "graceful-sub")) {
            sub.connect(false);
            assertAllDelivered(sub, 100);
        } finally {
            broker.close();
        }
    }

    @Test
    void offlineQueueIsDeliveredAfterSigkillOfTheBrokerProcess() throws Exception {
        Path data = work.resolve("data");
        Files.createDirectories(data);
        int n = 300;
        try (BrokerProcess first = BrokerProcess.start(work, data, "first")) {
            try (PahoV3 sub = PahoV3.connect(first.uri(), "kill-sub", false)) {
                sub.client.subscribe("kill/#", 2);
            }
            try (PahoV3 pub = PahoV3.connect(first.uri(), "kill-pub", true)) {
                for (int i = 0; i < n; i++) {
                    // MqttClient.publish returns once the PUBACK / PUBCOMP arrived: every one is acknowledged.
                    pub.publish("kill/" + (i % 5), Integer.toString(i), 1 + i % 2);
                }
                int status = first.kill();
                assertEquals(137, status, "exit status 128 + SIGKILL(9):\n" + first.output());
            }
        }
        try (BrokerProcess second = BrokerProcess.start(work, data, "second")) {
            try (PahoV3 sub = new PahoV3(second.uri(), "kill-sub")) {
                sub.connect(false);
                assertAllDelivered(sub, n);
            }
            int status = second.terminate();
            assertEquals(0, status, "SIGTERM stops gracefully with exit status 0:\n" + second.output());
            String log = second.output();
            assertEquals(true, log.contains("broker stopped"), "graceful stop logged:\n" + log);
        }
    }

    private static void assertAllDelivered(PahoV3 sub, int n) throws InterruptedException {
        List<PahoV3.Received> got = sub.take(n, 60_000);
        Set<Integer> values = new TreeSet<>();
        for (PahoV3.Received r : got) {
            values.add(Integer.parseInt(r.payload()));
        }
        assertEquals(n, got.size(), "messages delivered after restart (distinct: " + values.size() + ")");
        assertEquals(n, values.size(), "no duplicates");
        assertNull(sub.next(500), "nothing extra");
    }
}
