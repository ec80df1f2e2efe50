package io.durablemq.broker;

import io.durablemq.broker.config.Limits;
import io.durablemq.broker.protocol.MqttConnection;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hand-built bad packets over a plain socket. Each must close only the connection that sent it
 * (MQTT 5: DISCONNECT, or CONNACK for a bad CONNECT, with the reason code first; 3.1.1: close),
 * with one log line and one {@code durablemq_protocol_errors_total{reason}} increment, while an
 * already-connected client keeps working and a persistent session's queued message survives.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MalformedInputTest {
    private static final int MAX_PACKET = 64 * 1024;

    @TempDir
    static Path data;
    BrokerServer broker;
    RawMqttClient watcher;
    final AtomicInteger round = new AtomicInteger();

    /** What the bad connection must get: a DISCONNECT or CONNACK with {@code code} (MQTT 5), or just the close. */
    enum Answer { DISCONNECT, CONNACK, CLOSE }

    /**
     * @param level    protocol level of the CONNECT sent first (4 or 5), 0 to send no CONNECT
     * @param bad      the bytes sent after the CONNACK (or instead of a CONNECT)
     * @param metric   the reason label counted in durablemq_protocol_errors_total
     */
    record Case(String name, int level, int keepAlive, byte[] bad, Answer answer, int code, String metric) {
        @Override
        public String toString() {
            return name + (level == 5 ? " (MQTT 5)" : level == 4 ? " (MQTT 3.1.1)" : "");
        }
    }

    static byte[] b(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    static Case v3(String name, byte[] bad, String metric) {
        return new Case(name, 4, 60, bad, Answer.CLOSE, 0, metric);
    }

    static Case v5(String name, byte[] bad, int code, String metric) {
        return new Case(name, 5, 60, bad, Answer.DISCONNECT, code, metric);
    }

    static Stream<Case> cases() {
        byte[] connect3 = b(0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0);
        byte[] connect5 = b(0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 0);
        return Stream.of(
                // remaining length
                new Case("truncated remaining length (keep-alive closes)", 4, 1, b(0x30, 0x80), Answer.CLOSE, 0,
                        "keep_alive_timeout"),
                new Case("truncated remaining length (keep-alive closes)", 5, 1, b(0x30, 0x80), Answer.DISCONNECT, 0x8D,
                        "keep_alive_timeout"),
                new Case("truncated body (keep-alive closes)", 5, 1, b(0x30, 10, 0, 1), Answer.DISCONNECT, 0x8D,
                        "keep_alive_timeout"),
                v3("remaining length above max packet size", b(0x30, 0xFF, 0xFF, 0x7F, 0, 1, 'a'), "packet_too_large"),
                v5("remaining length above max packet size", b(0x30, 0xFF, 0xFF, 0x7F, 0, 1, 'a'), 0x95, "packet_too_large"),
                v3("5-byte remaining length", b(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), "malformed_packet"),
                v5("5-byte remaining length", b(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), 0x81, "malformed_packet"),
                // topics
                v3("invalid UTF-8 in topic", b(0x30, 5, 0, 3, 'a', 0xFF, 'b'), "malformed_packet"),
                v5("invalid UTF-8 in topic", b(0x30, 6, 0, 3, 'a', 0xFF, 'b', 0), 0x81, "malformed_packet"),
                v5("overlong UTF-8 '/' in topic", b(0x30, 6, 0, 3, 'a', 0xC0, 0xAF, 0), 0x81, "malformed_packet"),
                v5("UTF-8 surrogate in topic", b(0x30, 7, 0, 4, 'a', 0xED, 0xA0, 0x80, 0), 0x81, "malformed_packet"),
                v3("NUL in topic", b(0x30, 5, 0, 3, 'a', 0, 'b'), "malformed_packet"),
                v5("NUL in topic", b(0x30, 6, 0, 3, 'a', 0, 'b', 0), 0x81, "malformed_packet"),
                v3("wildcard in PUBLISH topic", b(0x30, 5, 0, 3, 'a', '/', '#'), "topic_name_invalid"),
                v5("wildcard in PUBLISH topic", b(0x30, 6, 0, 3, 'a', '/', '+', 0), 0x90, "topic_name_invalid"),
                v3("NUL in SUBSCRIBE filter", b(0x82, 8, 0, 1, 0, 3, 'a', 0, 'b', 1), "malformed_packet"),
                // fixed header flags
                v3("PUBLISH QoS 3", b(0x36, 5, 0, 1, 'a', 0, 1), "malformed_packet"),
                v5("PUBLISH QoS 3", b(0x36, 6, 0, 1, 'a', 0, 1, 0), 0x81, "malformed_packet"),
                v5("PUBLISH QoS 0 with DUP", b(0x38, 4, 0, 1, 'a', 0), 0x81, "malformed_packet"),
                v3("SUBSCRIBE without flags 0x02", b(0x80, 6, 0, 1, 0, 1, 'a', 0), "malformed_packet"),
                v5("SUBSCRIBE without flags 0x02", b(0x80, 7, 0, 1, 0, 0, 1, 'a', 0), 0x81, "malformed_packet"),
                v3("PUBREL without flags 0x02", b(0x60, 2, 0, 1), "malformed_packet"),
                v5("PUBREL without flags 0x02", b(0x60, 2, 0, 1), 0x81, "malformed_packet"),
                v5("PUBACK with flags 0x02", b(0x42, 2, 0, 1), 0x81, "malformed_packet"),
                v3("reserved packet type 0", b(0x00, 0), "malformed_packet"),
                v3("subscription option bits 2-7 set", b(0x82, 6, 0, 1, 0, 1, 'a', 0x05), "malformed_packet"),
                v5("subscription option bits 6-7 set", b(0x82, 7, 0, 1, 0, 0, 1, 'a', 0xC1), 0x81, "malformed_packet"),
                v5("subscription with QoS 3", b(0x82, 7, 0, 1, 0, 0, 1, 'a', 0x03), 0x81, "malformed_packet"),
                v5("retain handling 3", b(0x82, 7, 0, 1, 0, 0, 1, 'a', 0x30), 0x82, "protocol_error"),
                // packet ids
                v3("packet id 0 on QoS 1 PUBLISH", b(0x32, 5, 0, 1, 'a', 0, 0), "protocol_error"),
                v5("packet id 0 on QoS 1 PUBLISH", b(0x32, 6, 0, 1, 'a', 0, 0, 0), 0x82, "protocol_error"),
                v3("packet id 0 on SUBSCRIBE", b(0x82, 6, 0, 0, 0, 1, 'a', 0), "protocol_error"),
                v5("packet id 0 on SUBSCRIBE", b(0x82, 7, 0, 0, 0, 0, 1, 'a', 0), 0x82, "protocol_error"),
                v5("packet id 0 on UNSUBSCRIBE", b(0xA2, 6, 0, 0, 0, 0, 1, 'a'), 0x82, "protocol_error"),
                // order
                v3("second CONNECT", connect3, "protocol_error"),
                v5("second CONNECT", connect5, 0x82, "protocol_error"),
                new Case("PINGREQ before CONNECT", 0, 0, b(0xC0, 0), Answer.CLOSE, 0, "protocol_error"),
                new Case("SUBSCRIBE before CONNECT", 0, 0, b(0x82, 6, 0, 1, 0, 1, 'a', 0), Answer.CLOSE, 0,
                        "protocol_error"),
                // MQTT 5 properties
                v5("unknown property id in PUBLISH", b(0x30, 6, 0, 1, 'a', 2, 0x7F, 0), 0x81, "malformed_packet"),
                v5("subscription identifier in a client's PUBLISH", b(0x30, 6, 0, 1, 'a', 2, 0x0B, 1), 0x81,
                        "malformed_packet"),
                v5("duplicated Message Expiry Interval in PUBLISH",
                        b(0x30, 14, 0, 1, 'a', 10, 0x02, 0, 0, 0, 5, 0x02, 0, 0, 0, 6), 0x82, "protocol_error"),
                v5("duplicated Subscription Identifier in SUBSCRIBE",
                        b(0x82, 11, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 0), 0x82, "protocol_error"),
                v5("payload format indicator 2", b(0x30, 6, 0, 1, 'a', 2, 0x01, 2), 0x82, "protocol_error"),
                v5("property length past the packet end", b(0x30, 5, 0, 1, 'a', 9, 0x01), 0x81, "malformed_packet"),
                new Case("duplicated Session Expiry Interval in CONNECT", 0, 0,
                        b(0x10, 23, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 10, 0x11, 0, 0, 0, 5, 0x11, 0, 0, 0, 6, 0, 0),
                        Answer.CONNACK, 0x82, "protocol_error"),
                new Case("unknown property in CONNECT", 0, 0,
                        b(0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 2, 0x7E, 0, 0, 0),
                        Answer.CONNACK, 0x81, "malformed_packet"),
                new Case("overlong UTF-8 in CONNECT client id", 0, 0,
                        b(0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 2, 0xC0, 0x80),
                        Answer.CONNACK, 0x81, "malformed_packet"),
                new Case("invalid UTF-8 in MQTT 3.1.1 CONNECT user name", 0, 0,
                        b(0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 60, 0, 1, 'c', 0, 1, 0xFE),
                        Answer.CLOSE, 0, "malformed_packet"));
    }

    @BeforeAll
    void start() throws Exception {
        Limits limits = Limits.defaults().toBuilder().maxPacketSize(MAX_PACKET).connectTimeout(Duration.ofSeconds(3))
                .build();
        broker = TestBrokers.start(TestBrokers.config(data, limits));
        watcher = new RawMqttClient(broker.mqttPort());
        watcher.connect(RawMqttClient.connectV5("watcher", true, 0, MqttProperties.NO_PROPERTIES));
        watcher.send(RawMqttClient.subscribe(1, "watch/#", 1));
        assertNotNull(watcher.receive(MqttMessageType.SUBACK, 5_000));
    }

    @AfterAll
    void stop() throws Exception {
        if (watcher != null) {
            watcher.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    private double protocolErrors(String reason) {
        var counter = broker.meterRegistry().find("durablemq.protocol.errors").tag("reason", reason).counter();
        return counter == null ? 0 : counter.count();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void badInputClosesOnlyThatConnection(Case c) throws Exception {
        int n = round.incrementAndGet();
        String keeper = "keeper-" + n;
        queueForOfflineSession(keeper, "keep/" + n, "kept-" + n);
        double before = protocolErrors(c.metric());

        try (LogCapture log = LogCapture.of(MqttConnection.class);
             RawMqttClient bad = new RawMqttClient(broker.mqttPort())) {
            if (c.level() == 4) {
                MqttConnAckMessage ack = bad.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "bad-" + n,
                        true, c.keepAlive()));
                assertEquals(0, ack.variableHeader().connectReturnCode().byteValue());
            } else if (c.level() == 5) {
                MqttConnAckMessage ack = bad.connect(RawMqttClient.connectV5("bad-" + n, true, c.keepAlive(),
                        MqttProperties.NO_PROPERTIES));
                assertEquals(0, ack.variableHeader().connectReturnCode().byteValue());
            }
            bad.sendRaw(c.bad());

            MqttMessage answer = bad.receive(10_000);
            switch (c.answer()) {
                case DISCONNECT -> {
                    assertNotNull(answer, "a DISCONNECT before the close");
                    assertEquals(MqttMessageType.DISCONNECT, answer.fixedHeader().messageType());
                    assertEquals((byte) c.code(),
                            ((MqttReasonCodeAndPropertiesVariableHeader) answer.variableHeader()).reasonCode());
                }
                case CONNACK -> {
                    assertNotNull(answer, "a CONNACK before the close");
                    assertEquals(MqttMessageType.CONNACK, answer.fixedHeader().messageType());
                    assertEquals((byte) c.code(),
                            ((MqttConnAckMessage) answer).variableHeader().connectReturnCode().byteValue());
                }
                case CLOSE -> assertNull(answer, "MQTT 3.1.1 / before CONNACK: closed without a packet, got " + answer);
            }
            assertTrue(bad.awaitClosed(10_000), "the broker closed the bad connection");

            // one log line about this connection, one metric increment
            String who = ":" + bad.localPort();
            awaitTrue(() -> !log.linesContaining(who).isEmpty());
            Thread.sleep(100);
            List<String> lines = log.linesContaining(who);
            assertEquals(1, lines.size(), "log lines about the bad connection: " + lines);
            assertEquals(before + 1, protocolErrors(c.metric()), "durablemq_protocol_errors_total{reason=" + c.metric() + "}");
        }

        // the already-connected client still works
        String payload = "still-" + n;
        watcher.send(RawMqttClient.publish("watch/" + n, payload, 1, n, false, false, MqttProperties.NO_PROPERTIES));
        MqttMessage got = watcher.receive(MqttMessageType.PUBLISH, 5_000);
        assertNotNull(got, "the watcher gets its own publish back");
        assertEquals(payload, ((MqttPublishMessage) got).content().toString(StandardCharsets.UTF_8));
        watcher.send(RawMqttClient.ack(MqttMessageType.PUBACK, ((MqttPublishMessage) got).variableHeader().packetId()));

        // the store is unharmed: the persistent session's queued message is still delivered
        try (RawMqttClient k = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = k.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, keeper, false, 60));
            assertTrue(ack.variableHeader().isSessionPresent());
            MqttMessage queued = k.receive(MqttMessageType.PUBLISH, 5_000);
            assertNotNull(queued, "queued message delivered after the bad input");
            assertEquals("kept-" + n, ((MqttPublishMessage) queued).content().toString(StandardCharsets.UTF_8));
            k.send(RawMqttClient.ack(MqttMessageType.PUBACK, ((MqttPublishMessage) queued).variableHeader().packetId()));
            k.send(MqttMessage.DISCONNECT);
        }
    }

    /** A persistent session subscribed to {@code topic}, offline, with one acknowledged QoS 1 message queued. */
    private void queueForOfflineSession(String clientId, String topic, String payload) throws Exception {
        try (RawMqttClient k = new RawMqttClient(broker.mqttPort())) {
            k.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, clientId, false, 60));
            k.send(RawMqttClient.subscribe(1, topic, 1));
            assertNotNull(k.receive(MqttMessageType.SUBACK, 5_000));
            k.send(MqttMessage.DISCONNECT);
            assertTrue(k.awaitClosed(5_000));
        }
        try (RawMqttClient p = new RawMqttClient(broker.mqttPort())) {
            p.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, clientId + "-pub", true, 60));
            p.send(RawMqttClient.publish(topic, payload, 1, 7, false, false, null));
            assertNotNull(p.receive(MqttMessageType.PUBACK, 5_000), "queued message acknowledged");
        }
    }

    private static void awaitTrue(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 5_000;
        while (!condition.getAsBoolean() && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
        }
    }
}
