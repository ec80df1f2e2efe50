package io.durablemq.bench.load;

import io.durablemq.bench.report.LoadReport;
import io.moquette.broker.Server;
import io.moquette.broker.config.MemoryConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Short real runs of the load generator against an in-process Moquette broker on a free
 * loopback port: the counts must add up exactly and every message must arrive.
 */
@Timeout(60)
class LoadRunTest {

    private static Server broker;
    private static int port;

    @BeforeAll
    static void startBroker(@TempDir Path data) throws Exception {
        // Moquette cannot report a port it bound itself: take a free one (retried if someone wins the race).
        for (int attempt = 0; ; attempt++) {
            try (var probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = probe.getLocalPort();
            }
            try {
                broker = start(data, port);
                return;
            } catch (java.io.IOException | RuntimeException e) {
                if (attempt == 4) {
                    throw e;
                }
            }
        }
    }

    private static Server start(Path data, int port) throws java.io.IOException {
        Properties p = new Properties();
        p.setProperty("host", "127.0.0.1");
        p.setProperty("port", Integer.toString(port));
        p.setProperty("websocket_port", "disabled");
        p.setProperty("allow_anonymous", "true");
        p.setProperty("persistence_enabled", "false");
        p.setProperty("data_path", data.toString());
        p.setProperty("telemetry_enabled", "false");
        Server server = new Server();
        server.startServer(new MemoryConfig(p));
        return server;
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.stopServer();
        }
    }

    private LoadConfig config(Scenario scenario, int qos, int publishers, int subscribers, long count) {
        return new LoadConfig(new BrokerUrl("127.0.0.1", port), scenario, 3, qos, 64, publishers, subscribers, 20, 0,
                Duration.ZERO, Duration.ofSeconds(20), count, Duration.ofSeconds(20), Duration.ofSeconds(5), 1, "moquette", null);
    }

    private static LoadReport run(LoadConfig config) throws InterruptedException {
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        return new LoadRun(config, new PrintStream(progress, true, StandardCharsets.UTF_8)).run();
    }

    @Test
    void fanInAtQos1DeliversEveryAcknowledgedMessageOnce() throws Exception {
        LoadReport r = run(config(Scenario.FAN_IN, 1, 3, 1, 500));
        LoadReport.Results x = r.results();
        assertEquals("count", x.publishStoppedBy());
        assertEquals("complete", x.deliveryWait());
        assertEquals(1_500, x.sent());
        assertEquals(1_500, x.acknowledged());
        assertEquals(1_500, x.expected());
        assertEquals(1_500, x.received());
        assertEquals(0, x.lost());
        assertEquals(0, x.duplicates());
        assertEquals(0, x.publishErrors());
        assertEquals(1_500, r.latencyMillis().count());
        assertTrue(r.latencyMillis().p50() > 0 && r.latencyMillis().p50() <= r.latencyMillis().p99()
                && r.latencyMillis().p99() <= r.latencyMillis().max());
        assertTrue(x.receivedPerSecond() > 0 && x.sentPerSecond() > 0);
    }

    @Test
    void fanOutOwesEachMessageToEverySubscriber() throws Exception {
        LoadReport r = run(config(Scenario.FAN_OUT, 1, 1, 4, 300));
        assertEquals(1_200, r.results().expected());
        assertEquals(1_200, r.results().received());
        assertEquals(0, r.results().lost());
    }

    @Test
    void rateLimitedRunsAddUpWithEveryPacingAndCallbackThread() throws Exception {
        for (Pacing pacing : Pacing.values()) {
            for (Phase phase : Phase.values()) {
                CallbackThread callbacks = phase == Phase.STAGGERED ? CallbackThread.IO : CallbackThread.APP;
                LoadConfig c = new LoadConfig(new BrokerUrl("127.0.0.1", port), Scenario.PAIRS, 3, 2, 64, 4, 4, 20,
                        2_000, Duration.ZERO, Duration.ofSeconds(20), 50, Duration.ofSeconds(20), Duration.ofSeconds(5),
                        1, "moquette", null, pacing, phase, 0, callbacks);
                LoadReport r = run(c);
                String what = pacing + "/" + phase + "/" + callbacks;
                assertEquals("count", r.results().publishStoppedBy(), what);
                assertEquals(200, r.results().sent(), what);
                assertEquals(200, r.results().acknowledged(), what);
                assertEquals(200, r.results().received(), what);
                assertEquals(0, r.results().lost() + r.results().duplicates(), what);
                assertEquals(200, r.latencyMillis().count(), what);
                assertEquals(pacing.id(), r.sendPacing().pacing(), what);
                assertEquals(phase.id(), r.sendPacing().phase(), what);
                assertEquals(callbacks.id(), r.callbackThread(), what);
                assertEquals(200, r.sendPacing().sendLagMillis().count(), what);
                // Clocked from the intended time, the latency includes the tool's own lateness.
                assertTrue(r.latencyMillis().max() >= r.sendPacing().sendLagMillis().p50(), what);
            }
        }
    }

    @Test
    void unreachableBrokerFailsTheRunWithAClearMessage() throws Exception {
        int closed;
        try (var socket = new java.net.ServerSocket(0)) {
            closed = socket.getLocalPort();
        }
        LoadConfig c = new LoadConfig(new BrokerUrl("127.0.0.1", closed), Scenario.PAIRS, 5, 1, 64, 1, 1, 10, 0,
                Duration.ZERO, Duration.ofSeconds(1), 0, Duration.ofSeconds(1), Duration.ofSeconds(1), 1, "", null);
        LoadRunException e = assertThrows(LoadRunException.class, () -> run(c));
        assertTrue(e.getMessage().contains("could not connect subscriber at tcp://127.0.0.1:" + closed), e.getMessage());
    }
}
