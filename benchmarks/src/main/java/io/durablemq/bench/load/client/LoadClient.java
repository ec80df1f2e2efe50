package io.durablemq.bench.load.client;

import com.hivemq.client.mqtt.MqttClientExecutorConfig;
import io.durablemq.bench.load.BrokerUrl;
import io.durablemq.bench.load.CallbackThread;
import io.reactivex.schedulers.Schedulers;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The few MQTT operations a load run needs, the same for MQTT 3.1.1 and 5. Every call is
 * asynchronous; a publish future completes when the broker has acknowledged it (QoS 1/2) or
 * the client has written it (QoS 0), and fails when the broker refused it.
 */
public interface LoadClient {

    /** How a connection treats the broker-side session. */
    enum SessionMode {
        /** A fresh session that ends with the connection. */
        CLEAN,
        /** A fresh session that outlives the connection (3.1.1 clean session false / 5 expiry). */
        PERSISTENT_NEW,
        /** Resume the session created earlier with {@link #PERSISTENT_NEW}. */
        PERSISTENT_RESUME
    }

    /** How long a persistent session outlives its connection on MQTT 5 brokers. */
    long PERSISTENT_EXPIRY_SECONDS = 3_600;

    CompletableFuture<Void> connect(SessionMode mode);

    CompletableFuture<Void> subscribe(String filter, int qos);

    CompletableFuture<Void> publish(String topic, byte[] payload, int qos);

    /**
     * Disconnects; with {@code endSession} a persistent session is removed from the broker as
     * well, so a benchmark run leaves nothing queued behind.
     */
    CompletableFuture<Void> disconnect(boolean endSession);

    /**
     * Threads for the network I/O of all clients built with the result: the clients share one
     * Netty event loop group. Few threads leave more CPU to a broker on the same machine (with
     * HiveMQ's default, one per core, the generator used about twice the CPU per message on 2 cores).
     * With {@link CallbackThread#IO} the client's callbacks (deliveries, completed publishes) run
     * on the I/O thread that read the packet; HiveMQ's default hands each to its application
     * scheduler (RxJava's computation pool) first, a thread wake-up before the receive timestamp.
     */
    static MqttClientExecutorConfig executors(int ioThreads, CallbackThread callbacks) {
        var builder = MqttClientExecutorConfig.builder().nettyThreads(ioThreads);
        if (callbacks == CallbackThread.IO) {
            // A direct executor: RxJava's observeOn then drains on the emitting (Netty) thread.
            builder.applicationScheduler(Schedulers.from(Runnable::run));
        }
        return builder.build();
    }

    /**
     * @param executors from {@link #executors(int, CallbackThread)}, the same for every client of a run
     * @param onMessage called on the client's callback thread for every PUBLISH received, including
     *                  ones a resumed session gets before any SUBSCRIBE; must return quickly
     */
    static LoadClient create(int mqttVersion, BrokerUrl broker, String clientId, MqttClientExecutorConfig executors,
                             Consumer<ByteBuffer> onMessage) {
        return switch (mqttVersion) {
            case 3 -> new Mqtt3LoadClient(broker, clientId, executors, onMessage);
            case 5 -> new Mqtt5LoadClient(broker, clientId, executors, onMessage);
            default -> throw new IllegalArgumentException("MQTT version must be 3 or 5: " + mqttVersion);
        };
    }
}
