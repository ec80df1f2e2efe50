package io.durablemq.broker.chaos;

import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.MqttAsyncClient;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.MqttMessage;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Paho v3 publisher on its own thread: QoS 1 or 2, persistent session, file persistence,
 * sequence numbers in publish order over its topics. A message counts as acknowledged only when
 * Paho reports delivery complete (PUBACK / PUBCOMP), possibly after resends across broker lives.
 */
final class PahoPublisher implements AutoCloseable {
    final String name;
    final int qos;
    private final List<String> topics;
    private final int window;
    private final Ledger ledger;
    private final MqttAsyncClient client;
    private final Set<MsgId> inFlight = ConcurrentHashMap.newKeySet();
    private final AtomicLong refused = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile boolean paused;
    private volatile boolean online;
    private long nextSeq = 1;
    private volatile Throwable failure;
    private final java.util.function.BooleanSupplier mayPublish;

    PahoPublisher(String name, int qos, List<String> topics, int window, Ledger ledger, String uri, Path persistence,
                  java.util.function.BooleanSupplier mayPublish) throws MqttException {
        this.mayPublish = mayPublish;
        this.name = name;
        this.qos = qos;
        this.topics = topics;
        this.window = window;
        this.ledger = ledger;
        this.client = PahoClients.create(uri, name, persistence);
        client.setCallback(new MqttCallback() {
            @Override
            public void connectionLost(Throwable cause) {
                online = false;
            }

            @Override
            public void messageArrived(String topic, MqttMessage message) {
                ledger.anomaly(name + " (a publisher) received a message on " + topic);
            }

            @Override
            public void deliveryComplete(IMqttDeliveryToken token) {
                MsgId id = token.getUserContext() instanceof MsgId m ? m : null;
                if (id == null) {
                    try {
                        id = token.getMessage() == null ? null : MsgId.parse(token.getMessage().getPayload());
                    } catch (MqttException e) {
                        id = null;
                    }
                }
                if (id == null) {
                    ledger.anomaly(name + ": delivery complete for a token without message " + token.getMessageId());
                    return;
                }
                ledger.acknowledged(id);
                inFlight.remove(id);
            }
        });
        thread = new Thread(this::run, name);
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    void connect(String uri) throws MqttException, InterruptedException {
        connect(uri, false);
    }

    /** {@code keepLive}: a client Paho reports connected stays as it is ({@link PahoClients#connect(MqttAsyncClient, String, int, boolean)}). */
    void connect(String uri, boolean keepLive) throws MqttException, InterruptedException {
        PahoClients.connect(client, uri, 1_000, keepLive);
        online = true;
    }

    /** Stops (or resumes) handing new messages to the client; resends still happen. */
    void pause(boolean on) {
        paused = on;
    }

    int inFlight() {
        return inFlight.size();
    }

    List<MsgId> inFlightIds() {
        return List.copyOf(inFlight);
    }

    /** Publishes Paho refused (not connected, window full): never counted as sent to the broker. */
    long refused() {
        return refused.get();
    }

    private void run() {
        try {
            while (running) {
                if (paused || !online || inFlight.size() >= window || !mayPublish.getAsBoolean()) {
                    Thread.sleep(1);
                    continue;
                }
                MsgId id = new MsgId(name, nextSeq++);
                String topic = topics.get((int) (id.seq() % topics.size()));
                ledger.sent(id, topic, qos);
                inFlight.add(id);
                try {
                    client.publish(topic, id.payload(32), qos, false, id, null);
                } catch (MqttException e) {
                    // Refused before Paho stored it (not connected, connecting, disconnecting, window
                    // full). Its number is not reused, so a surprise resend could never look like a duplicate.
                    inFlight.remove(id);
                    refused.incrementAndGet();
                    Thread.sleep(2);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            failure = t;
        }
    }

    Throwable failure() {
        return failure;
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        thread.join(5_000);
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
