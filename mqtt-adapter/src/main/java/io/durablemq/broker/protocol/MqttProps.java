package io.durablemq.broker.protocol;

import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.message.UserProperty;
import io.netty.handler.codec.mqtt.MqttProperties;
import io.netty.handler.codec.mqtt.MqttProperties.MqttPropertyType;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Reading and building Netty {@link MqttProperties}; maps the forwarded ones to the engine's record. */
final class MqttProps {
    private MqttProps() {
    }

    static Integer integer(MqttProperties props, MqttPropertyType type) {
        if (props == null) {
            return null;
        }
        MqttProperties.MqttProperty<?> p = props.getProperty(type.value());
        return p == null ? null : (Integer) p.value();
    }

    static String string(MqttProperties props, MqttPropertyType type) {
        if (props == null) {
            return null;
        }
        MqttProperties.MqttProperty<?> p = props.getProperty(type.value());
        return p == null ? null : (String) p.value();
    }

    static byte[] binary(MqttProperties props, MqttPropertyType type) {
        if (props == null) {
            return null;
        }
        MqttProperties.MqttProperty<?> p = props.getProperty(type.value());
        return p == null ? null : (byte[]) p.value();
    }

    /**
     * Reads the properties a broker forwards unchanged from a PUBLISH or a will: every user
     * property in order, repeated names kept (MQTT-3.3.2-17/18). Netty's {@code isEmpty()} looks
     * only at its map of single-valued properties, not at its separate user-property list, so it
     * says "empty" for a PUBLISH whose only properties are user properties: it must not be used here.
     */
    static MessageProperties forwarded(MqttProperties props) {
        if (props == null) {
            return MessageProperties.NONE;
        }
        List<UserProperty> users = new ArrayList<>();
        for (MqttProperties.MqttProperty<?> p : props.getProperties(MqttPropertyType.USER_PROPERTY.value())) {
            if (p instanceof MqttProperties.UserProperty single) {
                users.add(new UserProperty(single.value().key, single.value().value));
            } else if (p instanceof MqttProperties.UserProperties many) {
                for (MqttProperties.StringPair pair : many.value()) {
                    users.add(new UserProperty(pair.key, pair.value));
                }
            }
        }
        MessageProperties mp = new MessageProperties(
                integer(props, MqttPropertyType.PAYLOAD_FORMAT_INDICATOR),
                string(props, MqttPropertyType.CONTENT_TYPE),
                string(props, MqttPropertyType.RESPONSE_TOPIC),
                binary(props, MqttPropertyType.CORRELATION_DATA),
                users);
        return mp.isEmpty() ? MessageProperties.NONE : mp;
    }

    /** Writes forwarded properties, the remaining expiry and subscription identifiers for an outbound PUBLISH. */
    static MqttProperties outbound(MessageProperties mp, long remainingExpirySeconds, List<Integer> subscriptionIds) {
        MqttProperties props = new MqttProperties();
        if (mp.payloadFormatIndicator() != null) {
            props.add(new MqttProperties.IntegerProperty(MqttPropertyType.PAYLOAD_FORMAT_INDICATOR.value(),
                    mp.payloadFormatIndicator()));
        }
        if (remainingExpirySeconds >= 0) {
            props.add(new MqttProperties.IntegerProperty(MqttPropertyType.PUBLICATION_EXPIRY_INTERVAL.value(),
                    (int) Math.min(remainingExpirySeconds, 0xFFFF_FFFFL)));
        }
        if (mp.contentType() != null) {
            props.add(new MqttProperties.StringProperty(MqttPropertyType.CONTENT_TYPE.value(), mp.contentType()));
        }
        if (mp.responseTopic() != null) {
            props.add(new MqttProperties.StringProperty(MqttPropertyType.RESPONSE_TOPIC.value(), mp.responseTopic()));
        }
        if (mp.correlationData() != null) {
            props.add(new MqttProperties.BinaryProperty(MqttPropertyType.CORRELATION_DATA.value(), mp.correlationData()));
        }
        if (!mp.userProperties().isEmpty()) {
            MqttProperties.UserProperties users = new MqttProperties.UserProperties();
            for (UserProperty u : mp.userProperties()) {
                users.add(u.name(), u.value());
            }
            props.add(users);
        }
        for (Integer id : subscriptionIds) {
            if (id != null && id > 0) {
                props.add(new MqttProperties.IntegerProperty(MqttPropertyType.SUBSCRIPTION_IDENTIFIER.value(), id));
            }
        }
        return props;
    }

    static MqttProperties reasonString(String reason) {
        MqttProperties props = new MqttProperties();
        if (reason != null) {
            props.add(new MqttProperties.StringProperty(MqttPropertyType.REASON_STRING.value(), reason));
        }
        return props;
    }

    /**
     * Encoded size of an outbound PUBLISH, computed exactly as the MQTT 5 encoder lays it out,
     * so a message larger than the client's Maximum Packet Size is discarded instead of sent.
     */
    static long publishPacketSize(String topic, int qos, int payloadLength, MessageProperties mp,
                                  long remainingExpirySeconds, List<Integer> subscriptionIds, boolean mqtt5) {
        long variable = 2L + utf8Length(topic) + (qos > 0 ? 2 : 0);
        if (mqtt5) {
            long p = 0;
            if (mp.payloadFormatIndicator() != null) {
                p += 2;
            }
            if (remainingExpirySeconds >= 0) {
                p += 5;
            }
            if (mp.contentType() != null) {
                p += 3 + utf8Length(mp.contentType());
            }
            if (mp.responseTopic() != null) {
                p += 3 + utf8Length(mp.responseTopic());
            }
            if (mp.correlationData() != null) {
                p += 3 + mp.correlationData().length;
            }
            for (UserProperty u : mp.userProperties()) {
                p += 5 + utf8Length(u.name()) + utf8Length(u.value());
            }
            for (Integer id : subscriptionIds) {
                if (id != null && id > 0) {
                    p += 1 + varIntSize(id);
                }
            }
            variable += varIntSize(p) + p;
        }
        long remaining = variable + payloadLength;
        return 1 + varIntSize(remaining) + remaining;
    }

    static int varIntSize(long value) {
        int n = 1;
        while (value >= 128) {
            value >>= 7;
            n++;
        }
        return n;
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }
}
