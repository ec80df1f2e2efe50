package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.StoreWriteException;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.InjectedCommitFault;
import io.durablemq.engine.support.InjectedCommitFault.When;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Faults injected into the committer of a running engine: a RuntimeException before the write,
 * an OutOfMemoryError before the write (the committer thread dies), and a RuntimeException after
 * the write (the batch is in the store, the caller sees an error). Each time the publishes of
 * the failed batch fail (none hangs), the engine is not committing until its reset has reopened
 * the store, it then accepts publishes again, and after a restart every acknowledged message is
 * delivered.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CommitFaultRecoveryTest {
    enum Fault {
        RUNTIME_BEFORE_WRITE(When.BEFORE_WRITE, () -> new IllegalStateException("injected: before the write")),
        ERROR_BEFORE_WRITE(When.BEFORE_WRITE, () -> new OutOfMemoryError("injected: the committer thread dies")),
        RUNTIME_AFTER_WRITE(When.AFTER_WRITE, () -> new IllegalStateException("injected: after the write"));

        final When when;
        final Supplier<Throwable> fault;

        Fault(When when, Supplier<Throwable> fault) {
            this.when = when;
            this.fault = fault;
        }
    }

    @TempDir
    Path dir;

    private static Message numbered(int n) {
        return new Message("t", ByteBuffer.allocate(4).putInt(n).array(), 1, false, null, 0);
    }

    /** Records whether the engine called itself committing when it closed the connection for its reset. */
    private static final class ResetWatcher implements SessionListener {
        final AtomicReference<Boolean> committingAtReset = new AtomicReference<>();
        final RecordingListener recorded = new RecordingListener();
        volatile Engine engine;

        @Override
        public void onPublish(OutboundPublish publish) {
            recorded.onPublish(publish);
        }

        @Override
        public void onPubrel(int packetId) {
            recorded.onPubrel(packetId);
        }

        @Override
        public void onSessionClosed(CloseReason reason) {
            if (reason == CloseReason.ENGINE_RESET) {
                committingAtReset.compareAndSet(null, engine.isCommitting());
            }
            recorded.onSessionClosed(reason);
        }

        RecordingListener.Event next(Duration timeout) {
            return recorded.next(timeout);
        }
    }

    @ParameterizedTest
    @EnumSource(Fault.class)
    void faultFailsItsBatchResetsAndLosesNothingAcknowledged(Fault fault) throws Exception {
        InjectedCommitFault hook = new InjectedCommitFault();
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withCommitFaults(hook))) {
            Engine engine = fx.engine();
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("t", 1);
            sub.disconnect(); // messages queue for the offline session

            ResetWatcher watcher = new ResetWatcher();
            watcher.engine = engine;
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", false, 3600, 100), watcher));
            pub.startDelivery();
            Set<Integer> acknowledged = new HashSet<>();
            int n = 0;
            for (; n < 20; n++) {
                assertEquals(PublishResult.Status.ACCEPTED, await(pub.publish(n + 1, numbered(n))).status());
                acknowledged.add(n);
            }
            assertTrue(engine.isCommitting());

            hook.arm(fault.when, fault.fault);
            List<CompletableFuture<PublishResult>> inFlight = new ArrayList<>();
            List<Integer> inFlightNumbers = new ArrayList<>();
            for (int i = 0; i < 30; i++, n++) {
                try {
                    inFlight.add(pub.publish(n + 1, numbered(n)));
                } catch (RuntimeException refusedAtOnce) {
                    inFlight.add(CompletableFuture.failedFuture(refusedAtOnce));
                }
                inFlightNumbers.add(n);
            }
            assertTrue(hook.awaitFired(10), "the fault fired");
            int failed = 0;
            for (int i = 0; i < inFlight.size(); i++) {
                try {
                    inFlight.get(i).get(10, TimeUnit.SECONDS); // bounded: a hanging future fails here
                    acknowledged.add(inFlightNumbers.get(i));
                } catch (ExecutionException e) {
                    assertInstanceOf(StoreWriteException.class, e.getCause());
                    failed++;
                }
            }
            assertTrue(failed > 0, "the publishes of the failed batch failed");

            RecordingListener.Event closed = watcher.next(Duration.ofSeconds(10));
            while (closed.closed() == null) {
                closed = watcher.next(Duration.ofSeconds(10));
            }
            assertEquals(SessionListener.CloseReason.ENGINE_RESET, closed.closed(), "the engine reset");
            assertEquals(Boolean.FALSE, watcher.committingAtReset.get(), "not committing (not ready) during the reset");
            awaitCommitting(engine);

            // Back: publishes are acknowledged again.
            SessionHandle pub2 = connectWhenBack(engine, "pub");
            for (int i = 0; i < 5; i++, n++) {
                assertEquals(PublishResult.Status.ACCEPTED, await(pub2.publish(i + 1, numbered(n))).status());
                acknowledged.add(n);
            }
            assertTrue(fx.counter("durablemq.commit.failures") >= 1, "counted");

            fx.restart();
            Set<Integer> delivered = drain(fx, acknowledged);
            assertTrue(delivered.containsAll(acknowledged), "acknowledged but lost: " + missing(acknowledged, delivered));
            if (fault.when == When.AFTER_WRITE) {
                // The unknown outcome: publishes told "failed" are in the store and delivered.
                Set<Integer> failedButWritten = new HashSet<>(delivered);
                failedButWritten.removeAll(acknowledged);
                assertFalse(failedButWritten.isEmpty(), "a batch failed after the write is still delivered");
            }
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
    }

    private static SessionHandle connectWhenBack(Engine engine, String clientId) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            try {
                SessionHandle h = engine.connect(new ConnectRequest(clientId, false, 3600, 100), new RecordingListener())
                        .get(10, TimeUnit.SECONDS);
                h.startDelivery();
                return h;
            } catch (ExecutionException notYet) {
                Thread.sleep(100);
            }
        }
        throw new AssertionError(clientId + " could not connect after the reset");
    }

    /** Connects the subscriber and acknowledges until nothing more arrives. */
    private static Set<Integer> drain(EngineFixture fx, Set<Integer> expected) {
        EngineFixture.Connected sub = fx.connect("sub", false, 3600);
        Set<Integer> delivered = new HashSet<>();
        while (true) {
            RecordingListener.Event e;
            try {
                e = sub.listener().next(Duration.ofSeconds(delivered.containsAll(expected) ? 1 : 10));
            } catch (AssertionError quiet) {
                return delivered;
            }
            assertNotNull(e.publish(), "only publishes expected: " + e);
            OutboundPublish p = e.publish();
            delivered.add(ByteBuffer.wrap(p.message().payload()).getInt());
            await(sub.handle().puback(p.packetId()));
        }
    }

    private static Set<Integer> missing(Set<Integer> a, Set<Integer> b) {
        Set<Integer> d = new HashSet<>(a);
        d.removeAll(b);
        return d;
    }
}
