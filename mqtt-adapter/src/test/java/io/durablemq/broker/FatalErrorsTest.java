package io.durablemq.broker;

import io.moquette.broker.security.IAuthorizatorPolicy;
import io.moquette.broker.subscriptions.Topic;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A VirtualMachineError thrown inside a connection's packet handling (here a StackOverflowError
 * from an authorizator plugin, on the event loop) is not logged as "connection failed, closing"
 * and survived: it goes to {@link FatalErrors}, whose production policy halts the JVM (exit 3).
 * The test installs a recording policy instead, so the test JVM lives.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FatalErrorsTest {
    /** Throws a StackOverflowError for topic "vm-error", allows everything else. */
    public static final class VmErrorAuthorizator implements IAuthorizatorPolicy {
        @Override
        public boolean canWrite(Topic topic, String user, String client) {
            if (topic.toString().equals("vm-error")) {
                throw new StackOverflowError("injected in a plugin");
            }
            return true;
        }

        @Override
        public boolean canRead(Topic topic, String user, String client) {
            return true;
        }
    }

    @TempDir
    Path data;

    @Test
    void aVirtualMachineErrorInAConnectionHandlerEndsTheProcessInsteadOfClosingOneConnection() throws Exception {
        CompletableFuture<String> fatal = new CompletableFuture<>();
        BiConsumer<String, VirtualMachineError> old = FatalErrors.replacePolicyForTests((where, error) -> {
            assertInstanceOf(StackOverflowError.class, error);
            fatal.complete(where);
        });
        BrokerServer broker = TestBrokers.start(TestBrokers.config(data).toBuilder()
                .authorizatorClass(VmErrorAuthorizator.class.getName()).build());
        try (RawMqttClient client = new RawMqttClient(broker.mqttPort())) {
            client.connect(RawMqttClient.connectPacket(MqttVersion.MQTT_3_1_1, "vme", true, 60));
            client.send(MqttMessageBuilders.publish().topicName("vm-error").qos(MqttQoS.AT_LEAST_ONCE).messageId(1)
                    .payload(Unpooled.wrappedBuffer(new byte[]{1})).build());
            String where = fatal.get(10, TimeUnit.SECONDS);
            assertTrue(where.startsWith("connection from"), where);
            assertTrue(where.contains("vme"), where);
        } finally {
            FatalErrors.replacePolicyForTests(old);
            broker.close();
        }
        assertEquals(3, FatalErrors.EXIT_STATUS, "the status the JVM's own ExitOnOutOfMemoryError uses");
    }
}
