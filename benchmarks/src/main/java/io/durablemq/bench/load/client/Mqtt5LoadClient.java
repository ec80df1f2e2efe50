package io.durablemq.bench.load.client;

import com.hivemq.client.mqtt.MqttClient;
import com.hivemq.client.mqtt.MqttClientExecutorConfig;
import com.hivemq.client.mqtt.MqttGlobalPublishFilter;
import com.hivemq.client.mqtt.datatypes.MqttQos;
import com.hivemq.client.mqtt.mqtt5.Mqtt5AsyncClient;
import io.durablemq.bench.load.BrokerUrl;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

/** {@link LoadClient} over HiveMQ's asynchronous MQTT 5 client. */
final class Mqtt5LoadClient implements LoadClient {

    private final Mqtt5AsyncClient client;

    Mqtt5LoadClient(BrokerUrl broker, String clientId, MqttClientExecutorConfig executors,
                    Consumer<ByteBuffer> onMessage) {
        this.client = MqttClient.builder()
                .useMqttVersion5()
                .identifier(clientId)
                .serverHost(broker.host())
                .serverPort(broker.port())
                .executorConfig(executors)
                .buildAsync();
        // Registered before CONNECT so a resumed session's queued messages are not missed.
        client.publishes(MqttGlobalPublishFilter.ALL,
                publish -> onMessage.accept(publish.getPayload().orElse(ByteBuffer.allocate(0))));
    }

    @Override
    public CompletableFuture<Void> connect(SessionMode mode) {
        return client.connectWith()
                .cleanStart(mode != SessionMode.PERSISTENT_RESUME)
                .sessionExpiryInterval(mode == SessionMode.CLEAN ? 0 : PERSISTENT_EXPIRY_SECONDS)
                .keepAlive(60)
                .send()
                .thenApply(ack -> null);
    }

    @Override
    public CompletableFuture<Void> subscribe(String filter, int qos) {
        return client.subscribeWith()
                .topicFilter(filter)
                .qos(qosOf(qos))
                .send()
                .thenAccept(subAck -> subAck.getReasonCodes().forEach(code -> {
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
                .qos(qosOf(qos))
                .payload(payload)
                .send()
                .thenAccept(result -> result.getError().ifPresent(error -> {
                    throw new CompletionException(error);
                }));
    }

    @Override
    public CompletableFuture<Void> disconnect(boolean endSession) {
        if (endSession) {
            return client.disconnectWith().sessionExpiryInterval(0).send();
        }
        return client.disconnect();
    }

    static MqttQos qosOf(int qos) {
        return switch (qos) {
            case 0 -> MqttQos.AT_MOST_ONCE;
            case 1 -> MqttQos.AT_LEAST_ONCE;
            case 2 -> MqttQos.EXACTLY_ONCE;
            default -> throw new IllegalArgumentException("qos must be 0, 1 or 2: " + qos);
        };
    }
}
