package io.durablemq.broker;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttPublishVariableHeader;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttVersion;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * A bare MQTT client over a plain socket, encoding and decoding with Netty's codec in an
 * {@link EmbeddedChannel}: the test decides exactly which packet is sent when, and can drop the
 * connection between any two packets.
 */
final class RawMqttClient implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final EmbeddedChannel codec = new EmbeddedChannel(new MqttDecoder(16 * 1024 * 1024), MqttEncoder.INSTANCE);
    private boolean eof;

    RawMqttClient(int port) throws IOException {
        socket = new Socket("127.0.0.1", port);
        socket.setTcpNoDelay(true);
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    static MqttConnectMessage connectPacket(MqttVersion version, String clientId, boolean clean, int keepAlive) {
        return MqttMessageBuilders.connect().protocolVersion(version).clientId(clientId).cleanSession(clean)
                .keepAlive(keepAlive).build();
    }

    /** Sends CONNECT and returns the CONNACK. */
    MqttConnAckMessage connect(MqttConnectMessage connect) throws IOException {
        send(connect);
        MqttMessage m = receive(10_000);
        if (!(m instanceof MqttConnAckMessage ack)) {
            throw new IOException("expected CONNACK, got " + m);
        }
        return ack;
    }

    void send(MqttMessage message) throws IOException {
        sendRaw(encode(message));
    }

    /** Sends several packets in one socket write, so the broker reads them together. */
    void sendTogether(MqttMessage... messages) throws IOException {
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        for (MqttMessage message : messages) {
            all.writeBytes(encode(message));
        }
        sendRaw(all.toByteArray());
    }

    /** One packet's bytes, through Netty's MQTT encoder. */
    private byte[] encode(MqttMessage message) {
        codec.writeOutbound(message);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        ByteBuf buf;
        while ((buf = codec.readOutbound()) != null) {
            byte[] chunk = new byte[buf.readableBytes()];
            buf.readBytes(chunk);
            buf.release();
            bytes.writeBytes(chunk);
        }
        return bytes.toByteArray();
    }

    void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    static MqttPublishMessage publish(String topic, String payload, int qos, int packetId, boolean dup,
                                      boolean retain, MqttProperties props) {
        return new MqttPublishMessage(
                new MqttFixedHeader(MqttMessageType.PUBLISH, dup, MqttQoS.valueOf(qos), retain, 0),
                new MqttPublishVariableHeader(topic, packetId, props == null ? MqttProperties.NO_PROPERTIES : props),
                Unpooled.wrappedBuffer(payload.getBytes(StandardCharsets.UTF_8)));
    }

    static MqttMessage ack(MqttMessageType type, int packetId) {
        MqttQoS qos = type == MqttMessageType.PUBREL ? MqttQoS.AT_LEAST_ONCE : MqttQoS.AT_MOST_ONCE;
        return new MqttMessage(new MqttFixedHeader(type, false, qos, false, 2), MqttMessageIdVariableHeader.from(packetId));
    }

    static MqttMessage subscribe(int packetId, String filter, int qos) {
        return MqttMessageBuilders.subscribe().messageId(packetId).addSubscription(MqttQoS.valueOf(qos), filter).build();
    }

    /** The next packet from the broker, or null after {@code millis} without one or when the connection closed. */
    MqttMessage receive(long millis) throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        while (true) {
            Object m = codec.readInbound();
            if (m != null) {
                return (MqttMessage) m;
            }
            if (eof) {
                return null;
            }
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return null;
            }
            socket.setSoTimeout((int) left);
            byte[] buf = new byte[8192];
            int n;
            try {
                n = in.read(buf);
            } catch (SocketTimeoutException e) {
                return null;
            } catch (IOException e) {
                eof = true;
                continue;
            }
            if (n < 0) {
                eof = true;
                continue;
            }
            codec.writeInbound(Unpooled.wrappedBuffer(buf, 0, n));
        }
    }

    /** The next packet of {@code type}, skipping others (they are returned in order by {@link #receive} otherwise). */
    MqttMessage receive(MqttMessageType type, long millis) throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            MqttMessage m = receive(Math.max(1, deadline - System.currentTimeMillis()));
            if (m == null) {
                return null;
            }
            if (m.fixedHeader().messageType() == type) {
                return m;
            }
        }
        return null;
    }

    /** True when the broker closes the connection within {@code millis} (packets before that are skipped). */
    boolean awaitClosed(long millis) throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        while (!eof && System.currentTimeMillis() < deadline) {
            receive(Math.max(1, deadline - System.currentTimeMillis()));
        }
        return eof;
    }

    /** The client side's port: the broker's log lines name the connection by it. */
    int localPort() {
        return socket.getLocalPort();
    }

    boolean isClosedByBroker() {
        return eof;
    }

    @Override
    public void close() throws IOException {
        socket.close();
        codec.finishAndReleaseAll();
    }

    static MqttConnectMessage connectV5(String clientId, boolean cleanStart, int keepAlive, MqttProperties props) {
        return MqttMessageBuilders.connect().protocolVersion(MqttVersion.MQTT_5).clientId(clientId)
                .cleanSession(cleanStart).keepAlive(keepAlive).properties(props).build();
    }
}
