package io.durablemq.bench.load;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoadGeneratorOptionsTest {

    private static LoadConfig parse(String... args) {
        CommandLine cl = LoadGenerator.commandLine();
        cl.parseArgs(args);
        return ((LoadGenerator) cl.getCommand()).toConfig();
    }

    @Test
    void defaultsDescribeOneQos1PairOnLocalhost() {
        LoadConfig c = parse();
        assertEquals(new BrokerUrl("127.0.0.1", 1883), c.broker());
        assertEquals(Scenario.PAIRS, c.scenario());
        assertEquals(5, c.mqttVersion());
        assertEquals(1, c.qos());
        assertEquals(256, c.payloadBytes());
        assertEquals(1, c.publishers());
        assertEquals(1, c.subscribers());
        assertEquals(100, c.window());
        assertEquals(Duration.ofSeconds(2), c.warmup());
        assertEquals(Duration.ofSeconds(10), c.duration());
        assertEquals(0, c.count());
        assertEquals(0, c.rate());
        assertEquals(1, c.ioThreads());
        assertEquals(Pacing.THREADS, c.pacing());
        assertEquals(Phase.STAGGERED, c.phase());
        assertEquals(0, c.spinNanos());
        assertEquals(CallbackThread.IO, c.callbacks());
    }

    @Test
    void everyOptionReachesTheConfig() {
        LoadConfig c = parse("-b", "tcp://localhost:2883", "-s", "fan-in", "--mqtt", "3", "-q", "2", "--payload", "64",
                "-P", "16", "-w", "500", "--rate", "8000", "--warmup", "500ms", "-d", "1m", "-n", "1000",
                "--drain-timeout", "7", "--idle-timeout", "1.5s", "--io-threads", "2", "--label", "mosquitto", "--json", "out/r.json",
                "--pacing", "scheduler", "--phase", "aligned", "--spin-us", "40", "--callbacks", "app");
        assertEquals(new BrokerUrl("localhost", 2883), c.broker());
        assertEquals(Scenario.FAN_IN, c.scenario());
        assertEquals(3, c.mqttVersion());
        assertEquals(2, c.qos());
        assertEquals(64, c.payloadBytes());
        assertEquals(16, c.publishers());
        assertEquals(1, c.subscribers());
        assertEquals(500, c.window());
        assertEquals(8000, c.rate());
        assertEquals(Duration.ofMillis(500), c.warmup());
        assertEquals(Duration.ofMinutes(1), c.duration());
        assertEquals(1000, c.count());
        assertEquals(Duration.ofSeconds(7), c.drainTimeout());
        assertEquals(Duration.ofMillis(1500), c.idleTimeout());
        assertEquals(2, c.ioThreads());
        assertEquals("mosquitto", c.label());
        assertEquals(Path.of("out/r.json"), c.json());
        assertEquals(Pacing.SCHEDULER, c.pacing());
        assertEquals(Phase.ALIGNED, c.phase());
        assertEquals(40_000, c.spinNanos());
        assertEquals(CallbackThread.APP, c.callbacks());
        // 16 publishers sharing 8,000 msg/s, all at once: each publisher's k-th message at (k + 1) x 2 ms.
        assertEquals(1_000 + 2_000_000, c.schedule(1_000).intendedNanos(5, 0));
        assertEquals(1_000 + 4_000_000, c.schedule(1_000).intendedNanos(15, 1));
    }

    @Test
    void scenarioShapesFillInTheOtherSide() {
        LoadConfig pairs = parse("-S", "8");
        assertEquals(8, pairs.publishers());
        assertEquals(8, pairs.subscribers());
        LoadConfig fanOut = parse("-s", "fan_out", "-S", "100");
        assertEquals(1, fanOut.publishers());
        assertEquals(100, fanOut.subscribers());
        LoadConfig backlog = parse("-s", "backlog");
        assertEquals(10_000, backlog.count());
        assertEquals(Duration.ZERO, backlog.warmup());
        assertEquals(Duration.ofSeconds(120), backlog.drainTimeout());
    }

    @Test
    void impossibleRunsAreRefusedWithTheReason() {
        assertMessage("pairs needs as many subscribers as publishers", "-P", "2", "-S", "3");
        assertMessage("fan-in has exactly one subscriber", "-s", "fan-in", "-S", "2");
        assertMessage("fan-out has exactly one publisher", "-s", "fan-out", "-P", "2");
        assertMessage("backlog needs QoS 1 or 2", "-s", "backlog", "-q", "0");
        assertMessage("payload must be 24 bytes", "--payload", "10");
        assertMessage("qos must be 0, 1 or 2", "-q", "3");
        assertMessage("MQTT version must be 3 or 5", "--mqtt", "4");
        assertMessage("unknown scenario 'ring'", "-s", "ring");
        assertMessage("unsupported scheme 'ssl'", "-b", "ssl://127.0.0.1:8883");
        assertMessage("not on a loopback address", "-b", "tcp://10.1.2.3:1883");
        assertMessage("unknown pacing 'burst'", "--pacing", "burst");
        assertMessage("unknown phase 'random'", "--phase", "random");
        assertMessage("unknown callback thread 'pool'", "--callbacks", "pool");
        assertMessage("spin must be 0..10 ms", "--spin-us", "20000");
        assertEquals("10.1.2.3", parse("-b", "10.1.2.3:1883", "--allow-remote").broker().host());
    }

    @Test
    void badDurationIsAUsageError() {
        CommandLine cl = LoadGenerator.commandLine();
        assertThrows(CommandLine.ParameterException.class, () -> cl.parseArgs("-d", "ten seconds"));
    }

    private static void assertMessage(String expected, String... args) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(args));
        assertTrue(e.getMessage().contains(expected), () -> "message '" + e.getMessage() + "' lacks '" + expected + "'");
    }
}
