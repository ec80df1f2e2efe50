package io.durablemq.engine.message;

import java.util.List;

/**
 * The MQTT 5 properties a broker forwards unchanged from publisher to subscribers.
 * Message expiry is not here: it is an absolute deadline on {@link Message}.
 *
 * @param payloadFormatIndicator null when absent, else 0 (bytes) or 1 (UTF-8)
 */
public record MessageProperties(
        Integer payloadFormatIndicator,
        String contentType,
        String responseTopic,
        byte[] correlationData,
        List<UserProperty> userProperties) {

    public static final MessageProperties NONE = new MessageProperties(null, null, null, null, List.of());

    public MessageProperties {
        userProperties = userProperties == null ? List.of() : List.copyOf(userProperties);
    }

    public boolean isEmpty() {
        return payloadFormatIndicator == null && contentType == null && responseTopic == null
                && correlationData == null && userProperties.isEmpty();
    }
}
