package io.durablemq.broker.interceptor;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.moquette.interception.InterceptHandler;
import io.netty.handler.codec.mqtt.MqttConnectMessage;
import io.netty.handler.codec.mqtt.MqttPublishMessage;

import java.util.List;

/** Notifies Moquette interceptors of broker events (work in progress: no-op). */
public final class InterceptorBus implements AutoCloseable {

    public InterceptorBus(List<InterceptHandler> handlers) {
    }

    public static InterceptorBus fromConfig(BrokerConfig config) throws BrokerConfigException {
        return new InterceptorBus(List.of());
    }

    public boolean isEmpty() { return true; }
    public void connected(MqttConnectMessage msg) { }
    public void disconnected(String clientId, String username) { }
    public void connectionLost(String clientId, String username) { }
    public void published(MqttPublishMessage msg, String clientId, String username) { }
    public void subscribed(String clientId, String username, String filter, int qos) { }
    public void unsubscribed(String clientId, String username, String filter) { }
    public void acknowledged(String clientId, String username, String topic, int packetId) { }

    @Override
    public void close() { }
}
