package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A broker started with the default settings (only ports and data folder changed for the test). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SecureDefaultsTest {
    @TempDir
    Path data;

    @Test
    void listensOnLoopbackOnlyAndSaysHowToOpenUp() throws Exception {
        BrokerConfig config = BrokerConfig.defaults().toBuilder().port(0).metricsPort(TestBrokers.freePort()).dataPath(data).build();
        try (LogCapture log = LogCapture.of(BrokerServer.class);
             BrokerServer broker = TestBrokers.start(config)) {
            assertEquals(1, log.linesContaining("to accept remote clients set 'host 0.0.0.0'").size(), log.all().toString());

            try (RawMqttClient c = new RawMqttClient(broker.mqttPort())) {
                assertEquals(MqttConnectReturnCode.CONNECTION_ACCEPTED, c.connect(
                        RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "local", true, 60)).variableHeader().connectReturnCode());
            }
            // Every non-loopback address of this machine is refused: nothing listens there.
            List<InetAddress> external = Collections.list(NetworkInterface.getNetworkInterfaces()).stream()
                    .flatMap(i -> Collections.list(i.getInetAddresses()).stream())
                    .filter(a -> a instanceof Inet4Address && !a.isLoopbackAddress()).toList();
            for (InetAddress address : external) {
                assertThrows(IOException.class, () -> {
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress(address, broker.mqttPort()), 2_000);
                    }
                }, "MQTT port reachable on " + address);
                assertThrows(IOException.class, () -> {
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress(address, broker.metricsPort()), 2_000);
                    }
                }, "metrics port reachable on " + address);
            }
            assertTrue(config.allowAnonymous(), "anonymous access is on by default (Moquette's default), configurable");
        }
    }
}
