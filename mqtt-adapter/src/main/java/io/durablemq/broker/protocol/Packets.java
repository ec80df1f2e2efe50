package io.durablemq.broker.protocol;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnAckVariableHeader;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageIdAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttPubReplyMessageVariableHeader;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttPublishVariableHeader;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttReasonCodeAndPropertiesVariableHeader;
import io.netty.handler.codec.mqtt.MqttSubAckMessage;
import io.netty.handler.codec.mqtt.MqttSubAckPayload;
import io.netty.handler.codec.mqtt.MqttUnsubAckMessage;
import io.netty.handler.codec.mqtt.MqttUnsubAckPayload;

import java.util.List;

/**
 * Builds the packets the broker sends. Netty's encoder writes the MQTT 5 parts (reason codes,
 * properties) only on a connection whose CONNECT was version 5, so one builder serves both.
 */
final class Packets {
    private Packets() {
    }

    static MqttConnAckMessage connAck(MqttConnectReturnCode code, boolean sessionPresent, MqttProperties props) {
        return new MqttConnAckMessage(
                new MqttFixedHeader(MqttMessageType.CONNACK, false, MqttQoS.AT_MOST_ONCE, false, 0),
                new MqttConnAckVariableHeader(code, sessionPresent, props));
    }

    /** PUBACK, PUBREC, PUBREL or PUBCOMP. */
    static MqttMessage pubReply(MqttMessageType type, int packetId, byte reasonCode, MqttProperties props) {
        MqttQoS qos = type == MqttMessageType.PUBREL ? MqttQoS.AT_LEAST_ONCE : MqttQoS.AT_MOST_ONCE;
        return new MqttMessage(new MqttFixedHeader(type, false, qos, false, 0),
                new MqttPubReplyMessageVariableHeader(packetId, reasonCode, props));
    }

    static MqttPublishMessage publish(String topic, int qos, boolean dup, boolean retain, int packetId,
                                      byte[] payload, MqttProperties props) {
        return new MqttPublishMessage(
                new MqttFixedHeader(MqttMessageType.PUBLISH, dup, MqttQoS.valueOf(qos), retain, 0),
                new MqttPublishVariableHeader(topic, qos == 0 ? 0 : packetId, props),
                Unpooled.wrappedBuffer(payload));
    }

    static MqttSubAckMessage subAck(int packetId, List<Integer> codes, MqttProperties props) {
        return new MqttSubAckMessage(
                new MqttFixedHeader(MqttMessageType.SUBACK, false, MqttQoS.AT_MOST_ONCE, false, 0),
                new MqttMessageIdAndPropertiesVariableHeader(packetId, props),
                new MqttSubAckPayload(codes));
    }

    static MqttUnsubAckMessage unsubAck(int packetId, List<Short> codes, boolean mqtt5) {
        MqttFixedHeader fixed = new MqttFixedHeader(MqttMessageType.UNSUBACK, false, MqttQoS.AT_MOST_ONCE, false, 0);
        if (!mqtt5) {
            return new MqttUnsubAckMessage(fixed, MqttMessageIdVariableHeader.from(packetId));
        }
        return new MqttUnsubAckMessage(fixed, new MqttMessageIdAndPropertiesVariableHeader(packetId,
                MqttProperties.NO_PROPERTIES), new MqttUnsubAckPayload(codes));
    }

    static MqttMessage disconnect(byte reasonCode, MqttProperties props) {
        return new MqttMessage(
                new MqttFixedHeader(MqttMessageType.DISCONNECT, false, MqttQoS.AT_MOST_ONCE, false, 0),
                new MqttReasonCodeAndPropertiesVariableHeader(reasonCode, props));
    }

    /** MQTT 5 AUTH (enhanced authentication, spec section 3.15). */
    static MqttMessage auth(byte reasonCode, MqttProperties props) {
        return new MqttMessage(
                new MqttFixedHeader(MqttMessageType.AUTH, false, MqttQoS.AT_MOST_ONCE, false, 0),
                new MqttReasonCodeAndPropertiesVariableHeader(reasonCode, props));
    }

    static MqttMessage pingResp() {
        return MqttMessage.PINGRESP;
    }
}
