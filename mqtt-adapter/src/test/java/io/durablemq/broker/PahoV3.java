package io.durablemq.broker;

import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.MqttMessage;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A Paho MQTT 3.1.1 client that records what it receives. */
final class PahoV3 implements AutoCloseable {
    record Received(String topic, String payload, int qos, boolean retained, boolean duplicate) {
    }

    final MqttClient client;
    final LinkedBlockingQueue<Received> received = new LinkedBlockingQueue<>();
    volatile Throwable lost;

    PahoV3(String uri, String clientId) throws MqttException {
        client = new MqttClient(uri, clientId, new MemoryPersistence());
        client.setTimeToWait(10_000);
        client.setCallback(new MqttCallback() {
            @Override
            public void connectionLost(Throwable cause) {
                lost = cause;
            }

            @Override
            public void messageArrived(String topic, MqttMessage message) {
                received.add(new Received(topic, new String(message.getPayload(), StandardCharsets.UTF_8),
                        message.getQos(), message.isRetained(), message.isDuplicate()));
            }

            @Override
            public void deliveryComplete(IMqttDeliveryToken token) {
            }
        });
    }

    static PahoV3 connect(String uri, String clientId, boolean cleanSession) throws MqttException {
        PahoV3 c = new PahoV3(uri, clientId);
        c.connect(cleanSession);
        return c;
    }

    void connect(boolean cleanSession) throws MqttException {
        MqttConnectOptions o = new MqttConnectOptions();
        o.setCleanSession(cleanSession);
        o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        o.setAutomaticReconnect(false);
        o.setConnectionTimeout(10);
        o.setKeepAliveInterval(30);
        o.setMaxInflight(1000);
        client.connect(o);
    }

    void publish(String topic, String payload, int qos) throws MqttException {
        client.publish(topic, payload.getBytes(StandardCharsets.UTF_8), qos, false);
    }

    void publishRetained(String topic, String payload, int qos) throws MqttException {
        client.publish(topic, payload.getBytes(StandardCharsets.UTF_8), qos, true);
    }

    Received next(long millis) throws InterruptedException {
        return received.poll(millis, TimeUnit.MILLISECONDS);
    }

    /** Waits for {@code n} messages (or the timeout) and returns what arrived. */
    List<Received> take(int n, long millis) throws InterruptedException {
        List<Received> out = new ArrayList<>();
        long deadline = System.currentTimeMillis() + millis;
        while (out.size() < n) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                break;
            }
            Received r = received.poll(left, TimeUnit.MILLISECONDS);
            if (r != null) {
                out.add(r);
            }
        }
        return out;
    }

    @Override
    public void close() {
        try {
            if (client.isConnected()) {
                client.disconnect(2_000);
            }
        } catch (MqttException ignored) {
            // best effort in tests
        }
        try {
            client.close(true);
        } catch (MqttException ignored) {
            // best effort in tests
        }
    }
}
