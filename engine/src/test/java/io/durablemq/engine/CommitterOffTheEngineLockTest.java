package io.durablemq.engine;

import io.durablemq.engine.check.StoreVerifier;
import io.durablemq.engine.check.VerifyReport;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.GatedBatchLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committer takes and writes a batch while an operation holds the engine's lock (issue 12,
 * target 4, step 2 of the partitioned engine: engine/README.md, "Towards partitions"). Its own
 * lock guards only the open batch; operations append in one critical section at their end, and
 * every write is made inside an operation. Before, the writer took the batch under the engine's
 * lock, so a publish routing (holding it) held up the commit of every publish before it.
 *
 * <p>Shape: one batch in flight at most; batch 0 is held by the log, so batch 1 (publish 1) waits
 * open. Publish 2's routing, under the engine's lock (the test-only {@code routedTo} hook), lets
 * batch 0 through and waits up to 5 s for publish 1's answer: that answer needs the writer to take
 * batch 1. With the committer on the engine's lock it cannot, until publish 2's routing ends.
 */
class CommitterOffTheEngineLockTest {
    @TempDir
    Path dir;

    /** What publish 2's routing runs under the engine's lock, once. */
    private final AtomicReference<Runnable> duringRouting = new AtomicReference<>();
    private final CommitFaults hook = new CommitFaults() {
        @Override
        public void routedTo(int queuedSoFar) {
            Runnable r = duringRouting.getAndSet(null);
            if (r != null) {
                r.run();
            }
        }
    };

    @Test
    @Timeout(60)
    void aBatchIsWrittenWhileAnOperationHoldsTheEngineLock() throws Exception {
        GatedBatchLog log = new GatedBatchLog();
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withCommitFaults(hook).withCommitBatchesInFlight(1), log)) {
            EngineFixture.Connected sub = fx.connect("sub", false, 3600);
            sub.subscribe("t", 1);
            EngineFixture.Connected pub = fx.connect("pub", false, 3600);

            log.gate();
            CompletableFuture<PublishResult> first = pub.handle().publish(1, message("m0"));
            GatedBatchLog.Submission held = log.next(Duration.ofSeconds(10)); // batch 0: held, so the pipeline is full
            CompletableFuture<PublishResult> second = pub.handle().publish(2, message("m1")); // waits in the open batch

            boolean[] answeredMeanwhile = {false};
            duringRouting.set(() -> {
                try {
                    log.ungate();
                    GatedBatchLog.succeed(held); // room in the pipeline: the writer may take batch 1 now
                    second.get(5, TimeUnit.SECONDS);
                    answeredMeanwhile[0] = true;
                } catch (Exception e) {
                    answeredMeanwhile[0] = false; // timed out: the writer waited for the engine's lock
                }
            });
            PublishResult third = await(pub.handle().publish(3, message("m2")));

            assertTrue(answeredMeanwhile[0], "publish 1 was not answered while publish 2 held the engine's lock:"
                    + " the committer took its batch under the engine's lock");
            assertEquals(PublishResult.Status.ACCEPTED, await(first).status());
            assertEquals(PublishResult.Status.ACCEPTED, await(second).status());
            assertEquals(PublishResult.Status.ACCEPTED, third.status());
            for (String expected : new String[]{"m0", "m1", "m2"}) { // the subscriber never acknowledges: window room for all three
                assertEquals(expected, EngineFixture.text(sub.listener().nextPublish().message()));
            }
        }
        VerifyReport report = StoreVerifier.verify(dir);
        assertTrue(report.ok(), String.valueOf(report));
    }

    private static Message message(String text) {
        return Message.of("t", text.getBytes(StandardCharsets.UTF_8), 1);
    }
}
