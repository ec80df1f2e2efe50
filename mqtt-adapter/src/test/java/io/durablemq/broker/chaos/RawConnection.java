package io.durablemq.broker.chaos;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
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

/**
 * MQTT 3.1.1 over a plain socket with Netty's codec: the harness decides which packet goes when,
 * so it can stop an exchange between any two packets. Used by one thread at a time.
 */
final class RawConnection implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final EmbeddedChannel codec = new EmbeddedChannel(new MqttDecoder(4 * 1024 * 1024), MqttEncoder.INSTANCE);
    private final byte[] buf = new byte[16 * 1024];
    private volatile boolean closed;

    private RawConnection(Socket socket) throws IOException {
        this.socket = socket;
        socket.setTcpNoDelay(true);
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    /** Connects with a persistent session (clean session off, no keep-alive) and checks the CONNACK. */
    static RawConnection open(int port, String clientId) throws IOException {
        return open("127.0.0.1", port, clientId);
    }

    /** As {@link #open(int, String)}, to a broker on {@code host}. */
    static RawConnection open(String host, int port, String clientId) throws IOException {
        RawConnection c = new RawConnection(new Socket(host, port));
        c.send(MqttMessageBuilders.connect().protocolVersion(MqttVersion.MQTT_3_1_1).clientId(clientId)
                .cleanSession(false).keepAlive(0).build());
        MqttMessage m = c.receive(15_000);
        if (!(m instanceof MqttConnAckMessage ack)
                || ack.variableHeader().connectReturnCode() != MqttConnectReturnCode.CONNECTION_ACCEPTED) {
            c.close();
            throw new IOException(clientId + ": expected an accepting CONNACK, got " + m);
        }
        return c;
    }

    void send(MqttMessage message) throws IOException {
        codec.writeOutbound(message);
        ByteBuf b;
        while ((b = codec.readOutbound()) != null) {
            byte[] bytes = new byte[b.readableBytes()];
            b.readBytes(bytes);
            b.release();
            out.write(bytes);
        }
        out.flush();
    }

    /** The next packet, or null after {@code millis} without one; throws once the connection is gone. */
    MqttMessage receive(long millis) throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        while (true) {
            Object m = codec.readInbound();
            if (m != null) {
                return (MqttMessage) m;
            }
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return null;
            }
            socket.setSoTimeout((int) left);
            int n;
            try {
                n = in.read(buf);
            } catch (SocketTimeoutException e) {
                return null;
            }
            if (n < 0) {
                closed = true;
                throw new IOException("connection closed by the broker");
            }
            codec.writeInbound(Unpooled.copiedBuffer(buf, 0, n));
        }
    }

    /** The next packet of {@code type} (others are skipped), or null after {@code millis}. */
    MqttMessage receive(MqttMessageType type, long millis) throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        while (true) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return null;
            }
            MqttMessage m = receive(left);
            if (m == null) {
                return null;
            }
            if (m.fixedHeader().messageType() == type) {
                return m;
            }
        }
    }

    static MqttPublishMessage publish(String topic, byte[] payload, int qos, int packetId, boolean dup) {
        return new MqttPublishMessage(new MqttFixedHeader(MqttMessageType.PUBLISH, dup, MqttQoS.valueOf(qos), false, 0),
                new MqttPublishVariableHeader(topic, packetId, MqttProperties.NO_PROPERTIES), Unpooled.wrappedBuffer(payload));
    }

    static MqttMessage ack(MqttMessageType type, int packetId) {
        MqttQoS qos = type == MqttMessageType.PUBREL ? MqttQoS.AT_LEAST_ONCE : MqttQoS.AT_MOST_ONCE;
        return new MqttMessage(new MqttFixedHeader(type, false, qos, false, 2), MqttMessageIdVariableHeader.from(packetId));
    }

    static int packetId(MqttMessage m) {
        Object h = m.variableHeader();
        if (h instanceof MqttMessageIdVariableHeader id) {
            return id.messageId();
        }
        if (h instanceof MqttPublishVariableHeader p) {
            return p.packetId();
        }
        throw new IllegalArgumentException("no packet id in " + m);
    }

    boolean isClosed() {
        return closed || socket.isClosed();
    }

    /** Closes the socket; any thread may call it (a blocked reader then fails). */
    @Override
    public void close() {
        closed = true;
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing a socket the broker already dropped
        }
    }

    /** Releases decoded buffers; only the thread that used the connection calls it, after {@link #close()}. */
    void release() {
        codec.finishAndReleaseAll();
    }
}
