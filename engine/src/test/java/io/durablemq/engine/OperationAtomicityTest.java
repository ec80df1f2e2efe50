package io.durablemq.engine;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.InjectedRoutingFault;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * An error thrown in the middle of routing (after the message was queued for the first of three
 * sessions, before the second) leaves nothing of that publish: no body, no queue entry, no QoS 2
 * receive record, in memory, in the store (StoreVerifier) and after a restart; the publisher's
 * future fails, the error is counted, and the QoS 2 resend of the failed publish reaches every
 * subscriber exactly once.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OperationAtomicityTest {
    private static final List<String> SUBSCRIBERS = List.of("s1", "s2", "s3");

    @TempDir
    Path dir;

    private static Message qos2(String text) {
        return Message.of("t", text.getBytes(StandardCharsets.UTF_8), 2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"runtime", "out-of-memory"})
    void anErrorBetweenTwoTargetQueuesLeavesNothingAndTheResendIsDeliveredOnce(String kind) throws Exception {
        InjectedRoutingFault fault = new InjectedRoutingFault();
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withCommitFaults(fault))) {
            for (String id : SUBSCRIBERS) {
                EngineFixture.Connected sub = fx.connect(id, false, 3600);
                sub.subscribe("t", 2);
                sub.disconnect(); // offline: the messages wait in the durable queues
            }
            RecordingListener pubEvents = new RecordingListener();
            SessionHandle pub = await(fx.engine().connect(new ConnectRequest("pub", false, 3600, 100), pubEvents));
            pub.startDelivery();
            assertEquals(PublishResult.Status.ACCEPTED, await(pub.publish(1, qos2("m1"))).status());
            await(pub.release(1));

            fault.arm(1, () -> kind.equals("runtime") ? new IllegalStateException("injected between two queues")
                    : new OutOfMemoryError("injected between two queues"));
            CompletableFuture<PublishResult> failed;
            if (kind.equals("runtime")) {
                failed = pub.publish(2, qos2("m2"));
            } else {
                // An Error the JVM may not survive is rethrown to the caller after the rollback.
                assertThrows(OutOfMemoryError.class, () -> pub.publish(2, qos2("m2")));
                failed = null;
            }
            assertTrue(fault.fired(), "the fault fired");
            if (failed != null) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> failed.get(10, TimeUnit.SECONDS));
                assertInstanceOf(EngineOperationException.class, e.getCause());
            }
            assertEquals(1.0, fx.counter("durablemq.internal.errors", "where", "operation"), "counted");

            awaitResetAndBack(fx.engine(), pubEvents);
            assertOnlyTheFirstMessageIsQueued(fx.engine());
            fx.engine().close();
            VerifyReport report = StoreVerifier.verify(dir);
            assertTrue(report.ok(), "store verifies after the failed operation: " + report.problems());

            fx.restart(); // recovery refuses any broken invariant (an orphan body, a partial routing)
            assertOnlyTheFirstMessageIsQueued(fx.engine());

            // The publisher resends the unacknowledged QoS 2 publish with the same packet id.
            SessionHandle again = await(fx.engine().connect(new ConnectRequest("pub", false, 3600, 100),
                    new RecordingListener()));
            again.startDelivery();
            assertEquals(PublishResult.Status.ACCEPTED, await(again.publish(2, qos2("m2"))).status(), "routed now");
            assertEquals(PublishResult.Status.DUPLICATE, await(again.publish(2, qos2("m2"))).status(),
                    "a second resend before PUBREL is not routed again");
            await(again.release(2));

            for (String id : SUBSCRIBERS) {
                assertEquals(List.of("m1", "m2"), drainQos2(fx, id), id + " got each message once");
            }
            assertEquals(0, fx.engine().stats().storedBodies(), "every body released after the last PUBCOMP");
            fx.engine().close();
            VerifyReport end = StoreVerifier.verify(dir);
            assertTrue(end.ok(), "store verifies at the end: " + end.problems());
            fx.restart(); // so that close() of the fixture has an open engine
        }
    }

    private static void assertOnlyTheFirstMessageIsQueued(Engine engine) {
        for (String id : SUBSCRIBERS) {
            assertEquals(1, engine.session(id).queuedMessages(), id + ": no partial routing");
        }
        assertEquals(1, engine.stats().storedBodies(), "no orphan body of the failed publish");
        assertEquals(0, engine.session("pub") == null ? 0 : engine.session("pub").qos2Received(),
                "no QoS 2 receive record of the failed publish");
    }

    /** The failed operation resets the engine: the publisher's connection is closed, then the engine commits again. */
    private static void awaitResetAndBack(Engine engine, RecordingListener pubEvents) throws InterruptedException {
        RecordingListener.Event e = pubEvents.next(Duration.ofSeconds(10));
        while (e.closed() == null) {
            e = pubEvents.next(Duration.ofSeconds(10));
        }
        assertEquals(SessionListener.CloseReason.ENGINE_RESET, e.closed());
        long deadline = System.currentTimeMillis() + 30_000;
        while (!engine.isCommitting()) {
            if (System.currentTimeMillis() > deadline) {
                fail("the engine did not come back within 30 s");
            }
            Thread.sleep(20);
        }
    }

    /** A correct QoS 2 receiver: every PUBLISH is PUBRECed, every PUBREL PUBCOMPed; returns the payloads in order. */
    private static List<String> drainQos2(EngineFixture fx, String clientId) {
        EngineFixture.Connected sub = fx.connect(clientId, false, 3600);
        List<String> got = new ArrayList<>();
        while (true) {
            RecordingListener.Event e;
            try {
                e = sub.listener().next(Duration.ofSeconds(got.size() >= 2 ? 1 : 10));
            } catch (AssertionError quiet) {
                sub.disconnect();
                return got;
            }
            if (e.isPublish()) {
                OutboundPublish p = e.publish();
                assertEquals(2, p.qos());
                got.add(EngineFixture.text(p.message()));
                await(sub.handle().pubrec(p.packetId()));
            } else if (e.isPubrel()) {
                await(sub.handle().pubcomp(e.pubrel()));
            }
        }
    }
}
