package io.durablemq.broker.listener;

import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;

/**
 * The WebSocket part of an MQTT listener's pipeline (HTTP codec, the WebSocket handshake on one
 * path with the MQTT subprotocols, binary frames to and from the MQTT byte stream), shared by the
 * broker's listeners and a cluster follower's redirecting listeners, so both answer the same clients.
 */
public final class WebSocketPipeline {
    /** The WebSocket subprotocols of MQTT 3.1.1/5.0 ("mqtt") and of MQTT 3.1 ("mqttv3.1"). */
    static final String SUBPROTOCOLS = "mqtt,mqttv3.1";

    private WebSocketPipeline() {
    }

    /** Appends the WebSocket handlers; MQTT decoder and encoder follow them. */
    public static void addTo(ChannelPipeline p, String path, int maxFramePayload, long handshakeTimeoutMillis) {
        p.addLast("http", new HttpServerCodec());
        p.addLast("http-aggregator", new HttpObjectAggregator(64 * 1024));
        p.addLast("websocket", new WebSocketServerProtocolHandler(WebSocketServerProtocolConfig.newBuilder()
                .websocketPath(path)
                .subprotocols(SUBPROTOCOLS)
                .maxFramePayloadLength(maxFramePayload)
                .handshakeTimeoutMillis(handshakeTimeoutMillis)
                .build()));
        p.addLast("websocket-mqtt", new WebSocketMqttFrames());
    }
}
