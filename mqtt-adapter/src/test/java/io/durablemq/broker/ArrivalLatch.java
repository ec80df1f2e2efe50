package io.durablemq.broker;

import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttMessage;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** A Paho v3 callback that counts arriving messages down: a test waits until N arrived. */
public final class ArrivalLatch implements MqttCallback {
    private final CountDownLatch arrived;

    public ArrivalLatch(int messages) {
        this.arrived = new CountDownLatch(messages);
    }

    /** True once every expected message arrived within {@code seconds}. */
    public boolean await(long seconds) throws InterruptedException {
        return arrived.await(seconds, TimeUnit.SECONDS);
    }

    @Override
    public void connectionLost(Throwable cause) {
    }

    @Override
    public void messageArrived(String topic, MqttMessage message) {
        arrived.countDown();
    }

    @Override
    public void deliveryComplete(IMqttDeliveryToken token) {
    }
}
