package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.Limits;
import io.durablemq.broker.security.PasswordHash;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MQTT 5 enhanced authentication with SCRAM-SHA-256 packet by packet (spec section 4.12), a raw
 * client running the tests' own SCRAM client ({@link ScramTestClient}, checked against RFC 7677)
 * against a broker whose password file has a {@code $scram-sha-256$} entry for "user"/"pencil"
 * and a PBKDF2 entry for "plain".
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EnhancedAuthTest {
    static final String SCRAM = "SCRAM-SHA-256";
    static final byte CONTINUE = 0x18;
    static final byte REAUTHENTICATE = 0x19;

    @TempDir
    Path dir;
    BrokerServer broker;

    @BeforeEach
    void start() throws Exception {
        Path passwords = dir.resolve("passwords.conf");
        Files.writeString(passwords, "user:" + PasswordHash.scram("pencil".toCharArray(), 4096).encoded() + "\n"
                + "plain:" + PasswordHash.pbkdf2("secret".toCharArray(), 1000).encoded() + "\n");
        BrokerConfig config = TestBrokers.config(dir.resolve("data")).toBuilder()
                .allowAnonymous(false)
                .passwordFile(passwords)
                .limits(Limits.defaults().toBuilder().connectTimeout(Duration.ofSeconds(2)).build())
                .build();
        broker = TestBrokers.start(config);
    }

    @AfterEach
    void stop() {
        broker.close();
    }

    static MqttConnectMessage connect(String clientId, String method, byte[] data) {
        MqttProperties props = new MqttProperties();
        props.add(new MqttProperties.StringProperty(MqttPropertyType.AUTHENTICATION_METHOD.value(), method));
        if (data != null) {
            props.add(new MqttProperties.BinaryProperty(MqttPropertyType.AUTHENTICATION_DATA.value(), data));
        }
        return RawMqttClient.connectV5(clientId, true, 60, props);
    }

    static MqttMessage auth(byte reasonCode, String method, byte[] data) {
        MqttProperties props = new MqttProperties();
        props.add(new MqttProperties.StringProperty(MqttPropertyType.AUTHENTICATION_METHOD.value(), method));
        props.add(new MqttProperties.BinaryProperty(MqttPropertyType.AUTHENTICATION_DATA.value(), data));
        return new MqttMessage(new MqttFixedHeader(MqttMessageType.AUTH, false, MqttQoS.AT_MOST_ONCE, false, 0),
                new MqttReasonCodeAndPropertiesVariableHeader(reasonCode, props));
    }

    static byte reasonCode(MqttMessage m) {
        return ((MqttReasonCodeAndPropertiesVariableHeader) m.variableHeader()).reasonCode();
    }

    static MqttProperties properties(MqttMessage m) {
        return ((MqttReasonCodeAndPropertiesVariableHeader) m.variableHeader()).properties();
    }

    static String method(MqttProperties props) {
        MqttProperties.MqttProperty<?> p = props.getProperty(MqttPropertyType.AUTHENTICATION_METHOD.value());
        return p == null ? null : (String) p.value();
    }

    static byte[] data(MqttProperties props) {
        MqttProperties.MqttProperty<?> p = props.getProperty(MqttPropertyType.AUTHENTICATION_DATA.value());
        return p == null ? null : (byte[]) p.value();
    }

    /** Expects AUTH 0x18 with server-first; returns the client-final to send. */
    static byte[] answerChallenge(RawMqttClient c, ScramTestClient scram) throws Exception {
        MqttMessage challenge = c.receive(10_000);
        assertNotNull(challenge, "AUTH continue expected");
        assertEquals(MqttMessageType.AUTH, challenge.fixedHeader().messageType(), challenge.toString());
        assertEquals(CONTINUE, reasonCode(challenge));
        assertEquals(SCRAM, method(properties(challenge)));
        return scram.clientFinal(data(properties(challenge)));
    }

    /** The whole CONNECT exchange; returns the CONNACK. */
    static MqttConnAckMessage scramLogin(RawMqttClient c, String clientId, ScramTestClient scram) throws Exception {
        c.send(connect(clientId, SCRAM, scram.clientFirst()));
        c.send(auth(CONTINUE, SCRAM, answerChallenge(c, scram)));
        MqttMessage m = c.receive(10_000);
        assertTrue(m instanceof MqttConnAckMessage, "CONNACK expected, got " + m);
        return (MqttConnAckMessage) m;
    }

    @Test
    void scramLoginThenReauthenticationSucceedsAndTheServerProvesItKnowsTheKeys() throws Exception {
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            ScramTestClient scram = new ScramTestClient("user", "pencil");
            MqttConnAckMessage ack = scramLogin(c, "scram-1", scram);
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, ack.variableHeader().connectReturnCode());
            MqttProperties props = ack.variableHeader().properties();
            assertEquals(SCRAM, method(props));
            assertTrue(scram.verifyServerFinal(data(props)), "server-final signature verified by the client");

            c.send(RawMqttClient.subscribe(1, "scram/t", 1));
            assertNotNull(c.receive(MqttMessageType.SUBACK, 10_000));

            ScramTestClient again = new ScramTestClient("user", "pencil");
            c.send(auth(REAUTHENTICATE, SCRAM, again.clientFirst()));
            c.send(auth(CONTINUE, SCRAM, answerChallenge(c, again)));
            MqttMessage done = c.receive(10_000);
            assertEquals(MqttMessageType.AUTH, done.fixedHeader().messageType(), done.toString());
            assertEquals(0x00, reasonCode(done));
            assertTrue(again.verifyServerFinal(data(properties(done))));

            c.send(RawMqttClient.publish("scram/t", "after re-auth", 1, 7, false, false, null));
            Set<MqttMessageType> got = new HashSet<>();
            for (int i = 0; i < 2; i++) {
                MqttMessage m = c.receive(10_000);
                assertNotNull(m, "still connected, messages flow");
                got.add(m.fixedHeader().messageType());
                if (m instanceof MqttPublishMessage delivered) {
                    c.send(RawMqttClient.ack(MqttMessageType.PUBACK, delivered.variableHeader().packetId()));
                }
            }
            assertEquals(Set.of(MqttMessageType.PUBLISH, MqttMessageType.PUBACK), got);

            ScramTestClient wrong = new ScramTestClient("user", "crayon");
            c.send(auth(REAUTHENTICATE, SCRAM, wrong.clientFirst()));
            c.send(auth(CONTINUE, SCRAM, answerChallenge(c, wrong)));
            MqttMessage refused = c.receive(MqttMessageType.DISCONNECT, 10_000);
            assertNotNull(refused, "failed re-authentication ends with DISCONNECT");
            assertEquals((byte) 0x87, reasonCode(refused));
            assertTrue(c.awaitClosed(10_000));
        }
    }

    @Test
    void wrongPasswordAndUnknownUsersGetNotAuthorizedTheSameWay() throws Exception {
        for (String[] login : new String[][] {{"user", "crayon"}, {"nobody", "pencil"}, {"plain", "secret"}}) {
            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                ScramTestClient scram = new ScramTestClient(login[0], login[1]);
                MqttConnAckMessage ack = scramLogin(c, "scram-bad", scram);
                assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED_5,
                        ack.variableHeader().connectReturnCode(), login[0]);
                assertNull(data(ack.variableHeader().properties()), "no server-final for a failed proof");
                assertTrue(c.awaitClosed(10_000));
            }
        }
    }

    @Test
    void unknownMethodGetsBadAuthenticationMethod() throws Exception {
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(connect("m-1", "SCRAM-SHA-1", "n,,n=user,r=abc".getBytes(StandardCharsets.UTF_8)));
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_BAD_AUTHENTICATION_METHOD, ack.variableHeader().connectReturnCode());
            assertTrue(c.awaitClosed(10_000));
        }
    }

    @Test
    void authWithAnotherMethodThanTheConnectionsIsDisconnectedWithBadAuthenticationMethod() throws Exception {
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED,
                    scramLogin(c, "m-2", new ScramTestClient("user", "pencil")).variableHeader().connectReturnCode());
            c.send(auth(REAUTHENTICATE, "PLAIN", "user".getBytes(StandardCharsets.UTF_8)));
            MqttMessage d = c.receive(MqttMessageType.DISCONNECT, 10_000);
            assertNotNull(d);
            assertEquals((byte) 0x8C, reasonCode(d));
            assertTrue(c.awaitClosed(10_000));
        }
    }

    @Test
    void scramEntryServesPlainLoginsButAuthWithoutConnectsMethodIsAProtocolError() throws Exception {
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(MqttMessageBuilders.connect().protocolVersion(MqttVersion.MQTT_5)
                    .clientId("plain-1").cleanSession(true).keepAlive(60).hasUser(true).username("user")
                    .hasPassword(true).password("pencil".getBytes(StandardCharsets.UTF_8)).build());
            assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, ack.variableHeader().connectReturnCode());
            c.send(auth(REAUTHENTICATE, SCRAM, new ScramTestClient("user", "pencil").clientFirst()));
            MqttMessage d = c.receive(MqttMessageType.DISCONNECT, 10_000);
            assertNotNull(d);
            assertEquals((byte) 0x82, reasonCode(d));
        }
    }

    @Test
    void packetsOtherThanAuthBeforeConnackAreAProtocolError() throws Exception {
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            ScramTestClient scram = new ScramTestClient("user", "pencil");
            c.send(connect("early-1", SCRAM, scram.clientFirst()));
            answerChallenge(c, scram);
            c.send(RawMqttClient.subscribe(1, "a/b", 1));
            MqttMessage m = c.receive(10_000);
            assertTrue(m instanceof MqttConnAckMessage, "CONNACK expected, got " + m);
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_PROTOCOL_ERROR,
                    ((MqttConnAckMessage) m).variableHeader().connectReturnCode());
            assertTrue(c.awaitClosed(10_000));
        }
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            ScramTestClient scram = new ScramTestClient("user", "pencil");
            c.send(connect("early-2", SCRAM, scram.clientFirst()));
            answerChallenge(c, scram);
            c.send(auth(REAUTHENTICATE, SCRAM, scram.clientFirst()));
            MqttConnAckMessage m = (MqttConnAckMessage) c.receive(10_000);
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_PROTOCOL_ERROR, m.variableHeader().connectReturnCode());
        }
    }

    @Test
    void anUnfinishedExchangeIsClosedByTheConnectTimeout() throws Exception {
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            ScramTestClient scram = new ScramTestClient("user", "pencil");
            c.send(connect("slow-1", SCRAM, scram.clientFirst()));
            answerChallenge(c, scram);
            // No client-final: the broker must not wait forever (connect timeout 2 s here).
            assertTrue(c.awaitClosed(20_000), "closed while the exchange was unfinished");
        }
        // A CONNECT with the method but no client-first message is refused, not left hanging.
        try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
            MqttConnAckMessage ack = c.connect(connect("empty-1", SCRAM, null));
            assertEquals(MqttConnectReturnCode.CONNECTION_REFUSED_NOT_AUTHORIZED_5, ack.variableHeader().connectReturnCode());
            assertFalse(ack.variableHeader().properties().getProperty(MqttPropertyType.REASON_STRING.value()) == null);
        }
    }

}
