package io.durablemq.engine.support;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/** An engine on a real RocksDB store in a test folder, restartable, with small helpers. */
public final class EngineFixture implements AutoCloseable {
    private final Path dir;
    private final UnaryOperator<EngineConfig> tweak;
    private final BatchLog batchLog;
    private Engine engine;
    private SimpleMeterRegistry meters;

    public EngineFixture(Path dir) {
        this(dir, c -> c);
    }

    public EngineFixture(Path dir, UnaryOperator<EngineConfig> tweak) {
        this(dir, tweak, BatchLog.LOCAL);
    }

    /** Committing through {@code batchLog} (a fault or a recorder wrapped around the store write). */
    public EngineFixture(Path dir, UnaryOperator<EngineConfig> tweak, BatchLog batchLog) {
        this.dir = dir;
        this.tweak = tweak;
        this.batchLog = batchLog;
        open();
    }

    /**
     * Operations that may wait for the next commit (a PUBACK that refills nothing) are written at once
     * here, as before s26: a test that awaits thousands of acknowledgements one after the other would
     * otherwise wait {@code Committer.RIDE_ALONG_MILLIS} for each. {@code AcksRideAlongTest} and every
     * engine started by a broker use the production ride-along; a tweak that sets its own
     * {@code CommitFaults} gets that too.
     */
    public static final CommitFaults RIDE_ALONG_OFF = new CommitFaults() {
        @Override
        public long rideAlongMillis() {
            return 0;
        }
    };

    public EngineConfig config() {
        return tweak.apply(EngineConfig.defaults(dir).withDurability(Durability.OS).withExpirySweep(Duration.ofMillis(50))
                .withCommitFaults(RIDE_ALONG_OFF));
    }

    private void open() {
        meters = new SimpleMeterRegistry();
        try {
            engine = Engine.open(config(), meters, batchLog);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    public Engine engine() {
        return engine;
    }

    public SimpleMeterRegistry meters() {
        return meters;
    }

    public double counter(String name, String... tags) {
        var c = meters.find(name).tags(tags).counter();
        return c == null ? 0 : c.count();
    }

    public void restart() {
        engine.close();
        open();
    }

    public Connected connect(String clientId, boolean cleanStart, long expirySeconds) {
        return connect(new ConnectRequest(clientId, cleanStart, expirySeconds, 65_535));
    }

    public Connected connect(ConnectRequest request) {
        RecordingListener listener = new RecordingListener();
        SessionHandle handle = await(engine.connect(request, listener));
        handle.startDelivery();
        return new Connected(handle, listener);
    }

    /** A connected test client: the engine handle plus what was sent to it. */
    public record Connected(SessionHandle handle, RecordingListener listener) {
        public PublishResult publish(int packetId, String topic, String payload, int qos) {
            return await(handle.publish(packetId, Message.of(topic, payload.getBytes(StandardCharsets.UTF_8), qos)));
        }

        public void subscribe(String filter, int qos) {
            await(handle.subscribe(List.of(Subscription.of(filter, qos))));
        }

        public void disconnect() {
            await(handle.disconnect(-1));
        }
    }

    public static <T> T await(CompletableFuture<T> f) {
        try {
            return f.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    public static String text(Message m) {
        return new String(m.payload(), StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        engine.close();
    }
}
