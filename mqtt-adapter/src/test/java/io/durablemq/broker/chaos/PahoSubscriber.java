package io.durablemq.broker.chaos;

import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.IMqttToken;
import org.eclipse.paho.client.mqttv3.MqttAsyncClient;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.MqttMessage;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Paho v3 subscriber with a persistent session and file persistence (its QoS 2 receive state
 * survives reconnects, so Paho itself never hands a resent QoS 2 message to the application twice;
 * {@link ShutdownSafeFilePersistence} closes Paho's one gap there).
 * Subscribes once; afterwards the session's subscription must survive every broker life.
 */
final class PahoSubscriber implements AutoCloseable {
    final String name;
    final String filter;
    final int qos;
    private final MqttAsyncClient client;
    private final AtomicLong received = new AtomicLong();
    private boolean subscribed;
    /** Connections Paho reported lost since {@link #markLife()}, and the last one's time and cause. */
    private final AtomicLong lossesSinceMark = new AtomicLong();
    private volatile String lastLoss;
    /** The harness's plan: an offline subscriber stays disconnected across restarts so its queue fills. */
    volatile boolean wantOnline = true;

    PahoSubscriber(String name, String filter, int qos, String group, Ledger ledger, String uri, Path persistence)
            throws MqttException {
        this.name = name;
        this.filter = filter;
        this.qos = qos;
        ledger.addSession(name, filter, qos, group);
        client = PahoClients.create(uri, name, persistence);
        client.setCallback(new MqttCallback() {
            @Override
            public void connectionLost(Throwable cause) {
                // Counted for the report (connectionNote); in the final drain ChaosRun connects a
                // lost subscriber again (reconnectLostSubscribers), before that the kill plan does.
                lossesSinceMark.incrementAndGet();
                lastLoss = java.time.LocalTime.now(java.time.ZoneOffset.UTC) + " " + cause;
            }

            @Override
            public void messageArrived(String topic, MqttMessage message) {
                // The object's identity tells a broker resend (a new PUBLISH, so a new object) from
                // Paho handing its stored copy over again (the same object).
                ledger.delivered(name, topic, message.getPayload(), message.getQos(), "id " + message.getId()
                        + (message.isDuplicate() ? " DUP " : " ") + java.time.LocalTime.now(java.time.ZoneOffset.UTC)
                        + " object " + Integer.toHexString(System.identityHashCode(message)));
                received.incrementAndGet();
            }

            @Override
            public void deliveryComplete(IMqttDeliveryToken token) {
            }
        });
    }

    void connect(String uri) throws MqttException, InterruptedException {
        connect(uri, false);
    }

    /** {@code keepLive}: a client Paho reports connected stays as it is ({@link PahoClients#connect(MqttAsyncClient, String, int, boolean)}). */
    void connect(String uri, boolean keepLive) throws MqttException, InterruptedException {
        PahoClients.connect(client, uri, 1_000, keepLive);
        if (!subscribed) {
            IMqttToken t = client.subscribe(filter, qos);
            t.waitForCompletion(15_000);
            int granted = t.getGrantedQos()[0];
            if (granted != qos) {
                throw new IllegalStateException(name + ": subscribed " + filter + " at QoS " + qos + ", granted " + granted);
            }
            subscribed = true;
        }
    }

    boolean isConnected() {
        return client.isConnected();
    }

    /** A clean DISCONNECT: the session (clean session off) stays and its queue fills. */
    void goOffline() throws MqttException {
        wantOnline = false;
        if (client.isConnected()) {
            client.disconnect(5_000).waitForCompletion(10_000);
        }
    }

    /** Starts counting connection losses afresh (at the final life). */
    void markLife() {
        lossesSinceMark.set(0);
        lastLoss = null;
    }

    /** Whether it is connected now and the connections it lost since {@link #markLife()}, for the report. */
    String connectionNote() {
        long losses = lossesSinceMark.get();
        return name + (client.isConnected() ? " connected" : " NOT CONNECTED") + ", lost " + losses
                + (losses == 0 ? "" : " (last " + lastLoss + ")");
    }

    long received() {
        return received.get();
    }

    @Override
    public void close() {
        try {
            if (client.isConnected()) {
                client.disconnect(2_000).waitForCompletion(3_000);
            }
        } catch (MqttException ignored) {
            // best effort at the end of a run
        }
        try {
            client.close(true);
        } catch (MqttException ignored) {
            // best effort at the end of a run
        }
    }
}
