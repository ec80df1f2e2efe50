package io.durablemq.broker.protocol;

import io.durablemq.broker.config.Limits;
import io.durablemq.broker.interceptor.InterceptorBus;
import io.durablemq.broker.metrics.BrokerMetrics;
import io.durablemq.broker.security.AccessControl;
import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.store.Durability;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LoopWrites} with {@link PublishCoalescer}: the PUBLISHes of consecutive
 * {@link LoopWrites.CoalescedPublish} tasks leave in shared buffers (fewer channel writes than
 * packets), any other task's write comes out between them exactly where it was queued, a PUBLISH
 * too large for the room left has the pending ones written first and, being large, a buffer of its own, and nothing stays unwritten after the drain.
 * The channel's outbound bytes are decoded by Netty's MQTT decoder, in order.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PublishCoalescerTest {
    /** A PINGRESP: a whole MQTT packet written by a task that is not a coalesced PUBLISH. */
    private static final byte[] PINGRESP = {(byte) 0xD0, 0x00};

    @TempDir
    Path dir;

    @Test
    void consecutivePublishesShareBuffersAndOtherWritesKeepTheirPlace() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (Engine engine = Engine.open(EngineConfig.defaults(dir).withDurability(Durability.OS), registry)) {
            ProtocolContext context = new ProtocolContext(engine, Limits.defaults(),
                    new AccessControl(true, null, null, registry), new InterceptorBus(List.of(), registry),
                    new BrokerMetrics(registry));
            EmbeddedChannel channel = new EmbeddedChannel();
            try {
                ConnectionScope scope = new ConnectionScope(context);
                scope.channel = channel;
                scope.clientId = "coalescer";
                List<String> expected = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    publish(scope, "m" + i, 40, expected);
                }
                scope.fromEngine.add(() -> channel.write(Unpooled.wrappedBuffer(PINGRESP)));
                expected.add("PINGRESP");
                publish(scope, "m3", 40, expected);
                publish(scope, "big", PublishCoalescer.CHUNK - 20, expected); // does not fit behind m3: a buffer of its own
                publish(scope, "m5", 40, expected);
                channel.runPendingTasks(); // the drain

                List<ByteBuf> writes = new ArrayList<>();
                ByteBuf w;
                while ((w = channel.readOutbound()) != null) {
                    writes.add(w);
                }
                // [m0 m1 m2] [PINGRESP] [m3] [big] [m5]: 5 writes for 7 packets (7 without coalescing).
                assertEquals(5, writes.size(), "channel writes");
                for (ByteBuf b : writes) {
                    // A mostly empty shared buffer is shrunk before it is written: a subscriber that does not
                    // read holds its packets in Netty's outbound buffer, not 16 KiB per drain.
                    assertEquals(b.readableBytes(), b.capacity(), "capacity of a write of " + b.readableBytes() + " bytes");
                }
                assertEquals(expected, decode(writes), "every packet whole, in the order queued");
            } finally {
                channel.finishAndReleaseAll();
                context.closeAllConnections(1_000);
            }
        }
    }

    private static void publish(ConnectionScope scope, String name, int payloadBytes, List<String> expected) {
        byte[] payload = new byte[payloadBytes];
        payload[0] = (byte) name.length();
        System.arraycopy(name.getBytes(StandardCharsets.US_ASCII), 0, payload, 1, name.length());
        scope.fromEngine.add((LoopWrites.CoalescedPublish) () -> scope.fromEngine.publishes.add("t/" + name, 1, false,
                false, expected.size() + 1, payload, MessageProperties.NONE, -1, List.of(), true));
        expected.add(name);
    }

    private static List<String> decode(List<ByteBuf> writes) {
        EmbeddedChannel decoder = new EmbeddedChannel(new MqttDecoder(1 << 20));
        decoder.attr(io.netty.util.AttributeKey.<io.netty.handler.codec.mqtt.MqttVersion>valueOf("NETTY_CODEC_MQTT_VERSION"))
                .set(io.netty.handler.codec.mqtt.MqttVersion.MQTT_5);
        for (ByteBuf b : writes) {
            decoder.writeInbound(b);
        }
        List<String> got = new ArrayList<>();
        MqttMessage next;
        while ((next = decoder.readInbound()) != null) {
            MqttMessage m = next;
            try {
                assertTrue(m.decoderResult().isSuccess(), () -> "decoded: " + m.decoderResult());
                if (m.fixedHeader().messageType() == MqttMessageType.PUBLISH) {
                    ByteBuf p = ((MqttPublishMessage) m).payload();
                    int n = p.getByte(p.readerIndex());
                    got.add(p.toString(p.readerIndex() + 1, n, StandardCharsets.US_ASCII));
                } else {
                    got.add(m.fixedHeader().messageType().name());
                }
            } finally {
                ReferenceCountUtil.release(m);
            }
        }
        decoder.finishAndReleaseAll();
        return got;
    }
}
