package io.durablemq.broker.protocol;

import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;

import java.nio.charset.StandardCharsets;

/**
 * The size of an MQTT 5 PUBLISH as Netty's encoder lays it out, from the Netty message parts, so
 * a rewritten packet can be checked against the client's Maximum Packet Size before it is sent.
 * A property it does not know is counted at the largest size it could have, so the answer is
 * exact for what the broker sends and never too small.
 */
final class EncodedPublishSize {
    private EncodedPublishSize() {
    }

    static long of(String topic, int qos, MqttProperties props, int payloadBytes) {
        long properties = propertiesLength(props);
        if (properties < 0) {
            return Long.MAX_VALUE;
        }
        long remaining = 2L + utf8Length(topic) + (qos > 0 ? 2 : 0)
                + MqttProps.varIntSize(properties) + properties + payloadBytes;
        return 1 + MqttProps.varIntSize(remaining) + remaining;
    }

    /** Encoded length of the property block (without its own length prefix); -1 when it holds a kind of property not known here. */
    static long propertiesLength(MqttProperties props) {
        long n = 0;
        for (MqttProperties.MqttProperty<?> p : props.listAll()) {
            if (p instanceof MqttProperties.IntegerProperty ip) {
                n += 1 + integerBytes(ip.propertyId(), ip.value());
            } else if (p instanceof MqttProperties.StringProperty sp) {
                n += 3 + utf8Length(sp.value());
            } else if (p instanceof MqttProperties.BinaryProperty bp) {
                n += 3 + bp.value().length;
            } else if (p instanceof MqttProperties.UserProperty up) {
                n += 5 + utf8Length(up.value().key) + utf8Length(up.value().value);
            } else if (p instanceof MqttProperties.UserProperties ups) {
                for (MqttProperties.StringPair pair : ups.value()) {
                    n += 5 + utf8Length(pair.key) + utf8Length(pair.value);
                }
            } else {
                return -1;
            }
        }
        return n;
    }

    private static int integerBytes(int id, int value) {
        if (id == MqttPropertyType.SUBSCRIPTION_IDENTIFIER.value()) {
            return MqttProps.varIntSize(Integer.toUnsignedLong(value));
        }
        if (id == MqttPropertyType.PAYLOAD_FORMAT_INDICATOR.value()) {
            return 1;
        }
        if (id == MqttPropertyType.TOPIC_ALIAS.value()) {
            return 2;
        }
        return 4; // Message Expiry Interval, and the widest integer for any other
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }
}
