package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.micrometer.core.instrument.MeterRegistry;

/** Authentication and authorization of MQTT clients (work in progress: allows everything). */
public final class AccessControl {

    public static AccessControl fromConfig(BrokerConfig config, MeterRegistry registry) throws BrokerConfigException {
        return new AccessControl();
    }

    public boolean authenticate(String clientId, String username, byte[] password) {
        return true;
    }

    public boolean canPublish(String clientId, String username, String topic) {
        return true;
    }

    public boolean canSubscribe(String clientId, String username, String topicFilter) {
        return true;
    }
}
