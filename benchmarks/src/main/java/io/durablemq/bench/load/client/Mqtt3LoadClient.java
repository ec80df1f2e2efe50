package io.durablemq.bench.load.client;

import com.hivemq.client.mqtt.MqttClient;
import com.hivemq.client.mqtt.MqttClientExecutorConfig;
import com.hivemq.client.mqtt.MqttGlobalPublishFilter;
import com.hivemq.client.mqtt.mqtt3.Mqtt3AsyncClient;
import io.durablemq.bench.load.BrokerUrl;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

/** {@link LoadClient} over HiveMQ's asynchronous MQTT 3.1.1 client. */
final class Mqtt3LoadClient implements LoadClient {

    private final Mqtt3AsyncClient client;
    private volatile boolean persistent;

    Mqtt3LoadClient(BrokerUrl broker, String clientId, MqttClientExecutorConfig executors,
                    Consumer<ByteBuffer> onMessage) {
        this.client = MqttClient.builder()
                .useMqttVersion3()
                .identifier(clientId)
                .serverHost(broker.host())
                .serverPort(broker.port())
                .executorConfig(executors)
                .buildAsync();
        client.publishes(MqttGlobalPublishFilter.ALL,
                publish -> onMessage.accept(publish.getPayload().orElse(ByteBuffer.allocate(0))));
    }

    @Override
    public CompletableFuture<Void> connect(SessionMode mode) {
        persistent = mode != SessionMode.CLEAN;
        return client.connectWith()
                .cleanSession(!persistent)
                .keepAlive(60)
                .send()
                .thenApply(ack -> null);
    }

    @Override
    public CompletableFuture<Void> subscribe(String filter, int qos) {
        return client.subscribeWith()
                .topicFilter(filter)
                .qos(Mqtt5LoadClient.qosOf(qos))
                .send()
                .thenAccept(subAck -> subAck.getReturnCodes().forEach(code -> {
                    if (code.isError()) {
                        throw new CompletionException(new IllegalStateException(
                                "broker refused subscription " + filter + ": " + code));
                    }
                }));
    }

    @Override
    public CompletableFuture<Void> publish(String topic, byte[] payload, int qos) {
        return client.publishWith()
                .topic(topic)
                .qos(Mqtt5LoadClient.qosOf(qos))
                .payload(payload)
                .send()
                .thenApply(publish -> null);
    }

    @Override
    public CompletableFuture<Void> disconnect(boolean endSession) {
        CompletableFuture<Void> done = client.disconnect();
        if (!endSession || !persistent) {
            return done;
        }
        // MQTT 3.1.1 can only drop a persistent session by connecting once with clean session.
        return done.thenCompose(v -> client.connectWith().cleanSession(true).send())
                .thenCompose(ack -> client.disconnect());
    }
}
