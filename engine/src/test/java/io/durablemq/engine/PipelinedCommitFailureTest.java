package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.StoreWriteException;
import io.durablemq.engine.support.GatedBatchLog;
import io.durablemq.engine.support.GatedBatchLog.Submission;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A running engine whose batch log (a stand-in for the replicated log, driven by the test) has
 * two batches in flight when the first fails: the second fails too, even when its own write
 * succeeded; neither publish is acknowledged; the engine resets once (one counted failure, its
 * connections closed with ENGINE_RESET) and rebuilds its image from the store, which then holds
 * exactly what the log wrote.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PipelinedCommitFailureTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    /** What the failed batch k and the batch k+1 behind it left in the store. */
    enum Outcome {
        /** k reached the store but its caller saw an error; k+1 was written and reported durable. */
        BOTH_WRITTEN_K_REPORTED_FAILED,
        /** k never reached the store (a Raft entry truncated by the next leader), so neither did k+1. */
        NEITHER_WRITTEN
    }

    @TempDir
    Path dir;

    private static Message numbered(int n) {
        return new Message("t", ByteBuffer.allocate(4).putInt(n).array(), 1, false, null, 0);
    }

    @ParameterizedTest
    @EnumSource(Outcome.class)
    void aFailedBatchFailsTheNextOneInFlightAndTheEngineRebuildsOnceFromTheStore(Outcome outcome) throws Exception {
        GatedBatchLog log = new GatedBatchLog();
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        EngineConfig config = EngineConfig.defaults(dir).withDurability(Durability.OS).withExpirySweep(Duration.ofMillis(50));
        try (Engine engine = Engine.open(config, meters, log)) {
            SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 100), new RecordingListener()));
            await(sub.subscribe(List.of(Subscription.of("t", 1))));
            await(sub.disconnect(-1)); // the messages queue for the offline session
            RecordingListener pubEvents = new RecordingListener();
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", false, 3600, 100), pubEvents));
            pub.startDelivery();
            assertEquals(PublishResult.Status.ACCEPTED, await(pub.publish(1, numbered(1))).status());
            RecoveryReport before = engine.recoveryReport();

            log.gate();
            CompletableFuture<PublishResult> k = pub.publish(2, numbered(2));
            Submission batchK = log.next(WAIT);
            CompletableFuture<PublishResult> k1 = pub.publish(3, numbered(3));
            Submission batchK1 = log.next(WAIT); // submitted while batch k is not durable
            assertEquals(3, engine.session("sub").queuedMessages(), "the image holds all three");
            log.ungate(); // the reset's own commits go through
            if (outcome == Outcome.BOTH_WRITTEN_K_REPORTED_FAILED) {
                GatedBatchLog.writeOnly(batchK);
                GatedBatchLog.succeed(batchK1); // durable, but built on batch k
                GatedBatchLog.fail(batchK, false);
            } else {
                GatedBatchLog.fail(batchK, false);
                GatedBatchLog.fail(batchK1, false);
            }

            assertInstanceOf(StoreWriteException.class, failure(k), "the failed batch's publish is not acknowledged");
            assertInstanceOf(StoreWriteException.class, failure(k1), "nor the one in flight behind it");
            RecordingListener.Event closed = pubEvents.next(WAIT);
            assertEquals(SessionListener.CloseReason.ENGINE_RESET, closed.closed(), "the engine reset: " + closed);
            awaitCommitting(engine);
            assertNotSame(before, engine.recoveryReport(), "the image was rebuilt by recovery");
            assertEquals(1.0, meters.find("durablemq.commit.failures").counter().count(), "one failure, one reset");

            int expected = outcome == Outcome.BOTH_WRITTEN_K_REPORTED_FAILED ? 3 : 1;
            assertEquals(expected, engine.session("sub").queuedMessages(), "the rebuilt image is what the store holds");
            RecordingListener subEvents = new RecordingListener();
            SessionHandle sub2 = await(engine.connect(new ConnectRequest("sub", false, 3600, 100), subEvents));
            sub2.startDelivery();
            List<Integer> delivered = new ArrayList<>();
            for (int i = 0; i < expected; i++) {
                OutboundPublish p = subEvents.nextPublish();
                delivered.add(ByteBuffer.wrap(p.message().payload()).getInt());
                await(sub2.puback(p.packetId()));
            }
            assertEquals(outcome == Outcome.BOTH_WRITTEN_K_REPORTED_FAILED ? List.of(1, 2, 3) : List.of(1), delivered);
            subEvents.expectNothing(Duration.ofMillis(300));
            assertEquals(1.0, meters.find("durablemq.commit.failures").counter().count(), "still one reset");
        }
    }

    private static Throwable failure(CompletableFuture<?> f) throws Exception {
        try {
            f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }

    private static void awaitCommitting(Engine engine) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (!engine.isCommitting()) {
            if (System.currentTimeMillis() > deadline) {
                fail("the engine did not come back within 30 s");
            }
            Thread.sleep(20);
        }
        assertTrue(engine.isCommitting());
    }
}
