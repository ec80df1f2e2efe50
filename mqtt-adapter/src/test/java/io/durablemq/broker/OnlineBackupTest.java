package io.durablemq.broker;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Online backup under load, then restore: Paho publishers send QoS 1 and QoS 2 messages without
 * pause to an offline persistent session (so they queue) and record every acknowledgement. The
 * set acknowledged so far is taken, then {@code POST /admin/backup} runs while the publishers go
 * on, and they keep publishing a while after it. A second broker started on the backup folder
 * delivers every message of that set to the session, no QoS 2 message twice, and nothing that
 * was never published.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class OnlineBackupTest {
    private static final int PUBLISHERS_PER_QOS = 2;
    /** A bound on each publisher, so the test ends even if time stood still. */
    private static final int MAX_PER_PUBLISHER = 20_000;

    @TempDir
    Path work;

    @Test
    void everyMessageAcknowledgedBeforeTheBackupIsDeliveredFromTheRestoredCopy() throws Exception {
        Path data = work.resolve("data");
        Map<String, Long> acked = new ConcurrentHashMap<>();    // message id -> ack time (nanoTime)
        Set<String> attempted = ConcurrentHashMap.newKeySet();
        AtomicBoolean publishing = new AtomicBoolean(true);
        AtomicReference<Throwable> publishError = new AtomicReference<>();
        Set<String> beforeBackup;
        long requestedAt;
        long answeredAt;
        Path backup;

        try (BrokerServer broker = AdminHttp.startWithMetrics(TestBrokers.config(data))) {
            String uri = TestBrokers.tcpUri(broker);
            try (PahoV3 sub = PahoV3.connect(uri, "backup-sub", false)) {
                sub.client.subscribe("load/#", 2);
            }
            List<Thread> publishers = new ArrayList<>();
            for (int qos = 1; qos <= 2; qos++) {
                for (int p = 0; p < PUBLISHERS_PER_QOS; p++) {
                    String prefix = qos + "-" + p + "-";
                    int q = qos;
                    Thread t = new Thread(() -> publish(uri, q, prefix, publishing, attempted, acked, publishError),
                            "publisher-" + prefix);
                    t.start();
                    publishers.add(t);
                }
            }
            Thread.sleep(1_500);
            beforeBackup = new HashSet<>(acked.keySet());
            requestedAt = System.nanoTime();
            HttpResponse<String> r = AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/backup?name=under-load"));
            answeredAt = System.nanoTime();
            assertEquals(200, r.statusCode(), r.body());
            backup = work.resolve("data-backups/under-load");
            Thread.sleep(1_000);
            publishing.set(false);
            for (Thread t : publishers) {
                t.join(30_000);
            }
            assertNull(publishError.get(), () -> "a publisher failed: " + publishError.get());
            long acceptedDuringBackup = acked.values().stream().filter(t -> t > requestedAt && t < answeredAt).count();
            long acceptedAfter = acked.values().stream().filter(t -> t > requestedAt).count();
            System.out.printf("online backup: %d acknowledged before, %d during the %d ms request, %d after it began; %s%n",
                    beforeBackup.size(), acceptedDuringBackup, (answeredAt - requestedAt) / 1_000_000, acceptedAfter, r.body());
            assertTrue(beforeBackup.size() > 100, "traffic before the backup: " + beforeBackup.size());
            assertTrue(acceptedAfter > 0, "traffic went on after the backup was requested");
        }

        // Restore: a broker on the backup folder, on other ports.
        Map<String, Integer> received = new HashMap<>();
        try (BrokerServer restored = TestBrokers.start(TestBrokers.config(backup));
             PahoV3 sub = new PahoV3(TestBrokers.tcpUri(restored), "backup-sub")) {
            sub.connect(false);
            long deadline = System.currentTimeMillis() + 120_000;
            PahoV3.Received m;
            while (System.currentTimeMillis() < deadline && (m = sub.next(3_000)) != null) {
                received.merge(m.payload(), 1, Integer::sum);
            }
        }
        Set<String> missing = new TreeSet<>(beforeBackup);
        missing.removeAll(received.keySet());
        assertEquals(0, missing.size(), () -> missing.size() + " of " + beforeBackup.size()
                + " messages acknowledged before the backup are not in the restored copy, e.g. " + firstFew(missing));
        Set<String> phantom = new TreeSet<>(received.keySet());
        phantom.removeAll(attempted);
        assertEquals(0, phantom.size(), () -> "delivered but never published: " + firstFew(phantom));
        List<String> qos2Twice = received.entrySet().stream()
                .filter(e -> e.getKey().startsWith("2-") && e.getValue() > 1).map(Map.Entry::getKey).toList();
        assertEquals(List.of(), qos2Twice, "QoS 2 messages delivered twice");
        System.out.printf("restored copy delivered %d distinct messages (%d acknowledged before the backup, %d in all)%n",
                received.size(), beforeBackup.size(), acked.size());
    }

    private static List<String> firstFew(Set<String> ids) {
        return ids.stream().limit(20).toList();
    }

    /** One Paho client publishing one message at a time; publish() returns once the PUBACK / PUBCOMP arrived. */
    private static void publish(String uri, int qos, String prefix, AtomicBoolean publishing, Set<String> attempted,
                                Map<String, Long> acked, AtomicReference<Throwable> error) {
        try (PahoV3 pub = PahoV3.connect(uri, "backup-pub-" + prefix, true)) {
            for (int n = 0; n < MAX_PER_PUBLISHER && publishing.get(); n++) {
                String id = prefix + n;
                attempted.add(id);
                pub.publish("load/" + prefix + (n % 4), id, qos);
                acked.put(id, System.nanoTime());
            }
        } catch (Throwable t) {
            error.compareAndSet(null, t);
        }
    }
}
