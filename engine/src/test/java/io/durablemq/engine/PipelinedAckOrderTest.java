package io.durablemq.engine;

import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.GatedBatchLog;
import io.durablemq.engine.support.GatedBatchLog.Submission;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A publisher's QoS 1 answers complete in its publish order with several commit batches in flight
 * (MQTT 3.1.1 section 4.6: PUBACKs in the order the PUBLISHes were received), whatever order the
 * batch log finishes the batches in, and on the single node's own store. Each answer is observed
 * the way the broker's adapter observes it: a stage the publishing thread attaches to the future.
 * No other thread waits on a future before every answer is recorded, because a thread blocked in
 * {@code get()}/{@code join()} runs a completing future's pending stages itself and can record them
 * late (the cause of {@code PipelinedReplicationTest}'s rare misorder, docs/CLUSTER.md); so every
 * stage must run on the commit completion thread, or on the publisher when its future was already
 * done as it attached the stage (or, on the local store, on the committer's writer when it
 * completed an idle batch itself), and the tests check that too.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PipelinedAckOrderTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Duration QUIET = Duration.ofMillis(300);
    private static final String COMPLETION_THREAD = "durablemq-commit-completions";
    private static final String WRITER_THREAD = "durablemq-committer";

    @TempDir
    Path dir;

    /** The answers of one publisher, in the order their stages ran, with the thread that ran each. */
    private static final class Answers {
        private final List<Integer> order = new ArrayList<>();
        private final List<String> threads = new ArrayList<>();
        private final CountDownLatch all;

        Answers(int expected) {
            all = new CountDownLatch(expected);
        }

        /** Attaches the recording stage, on the calling (publishing) thread, as the adapter does. */
        void watch(int n, CompletableFuture<PublishResult> f) {
            f.whenComplete((r, e) -> {
                synchronized (this) {
                    order.add(e == null && r.status() == PublishResult.Status.ACCEPTED ? n : -n);
                    threads.add(Thread.currentThread().getName());
                }
                all.countDown();
            });
        }

        synchronized List<Integer> order() {
            return new ArrayList<>(order);
        }

        synchronized List<String> threads() {
            return new ArrayList<>(threads);
        }

        void awaitAll() throws InterruptedException {
            assertTrue(all.await(60, TimeUnit.SECONDS), "every publish was answered: " + all.getCount() + " not");
        }
    }

    private static Message numbered(int n) {
        return new Message("t", ByteBuffer.allocate(4).putInt(n).array(), 1, false, null, 0);
    }

    private static List<Integer> oneTo(int n) {
        List<Integer> l = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            l.add(i);
        }
        return l;
    }

    private static void offlineSubscriber(Engine engine) {
        SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 100), new RecordingListener()));
        await(sub.subscribe(List.of(Subscription.of("t", 1))));
        await(sub.disconnect(-1)); // every publish queues a message: a real write in each batch
    }

    /**
     * Five publishes, each its own batch, four in flight at once; the log reports batches 3, 2 and 4
     * durable before 1 (as Raft replies may arrive): nothing is answered until batch 1 is, then 1 to 4
     * in order, and 5 only after its own batch.
     */
    @Test
    void answersFollowThePublishOrderWhateverOrderTheLogFinishesTheBatchesIn() throws Exception {
        GatedBatchLog log = new GatedBatchLog();
        EngineConfig config = EngineConfig.defaults(dir).withDurability(Durability.OS).withCommitBatchesInFlight(4);
        try (Engine engine = Engine.open(config, new SimpleMeterRegistry(), log)) {
            offlineSubscriber(engine);
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", true, 0, 100), new RecordingListener()));
            Answers answers = new Answers(5);
            log.gate();
            List<Submission> batches = new ArrayList<>();
            for (int i = 1; i <= 4; i++) {
                answers.watch(i, pub.publish(i, numbered(i)));
                batches.add(log.next(WAIT)); // its own batch, submitted before any earlier one is durable
            }
            answers.watch(5, pub.publish(5, numbered(5)));
            assertTrue(log.nothingSubmittedWithin(QUIET), "the fifth batch waits: four are in flight");

            for (Submission b : batches) {
                GatedBatchLog.writeOnly(b); // the log holds them in order (Raft's log matching) ...
            }
            batches.get(2).future().complete(null); // ... but the replies arrive out of order
            batches.get(1).future().complete(null);
            batches.get(3).future().complete(null);
            Thread.sleep(QUIET.toMillis());
            assertEquals(List.of(), answers.order(), "batches 2 to 4 are reported durable but batch 1 is not: nothing is answered");

            batches.get(0).future().complete(null);
            GatedBatchLog.succeed(log.next(WAIT)); // room again: the fifth batch
            answers.awaitAll();
            assertEquals(oneTo(5), answers.order(), "answered in publish order, each accepted");
            assertEquals(List.of(COMPLETION_THREAD, COMPLETION_THREAD, COMPLETION_THREAD, COMPLETION_THREAD,
                    COMPLETION_THREAD), answers.threads(), "every answer ran on the commit completion thread");
            assertEquals(5, engine.session("sub").queuedMessages());
        }
    }

    /**
     * The single node: four publishers on the real store (fsync, so batches take time), four batches
     * in flight, 400 publishes each without waiting: each publisher's answers in its publish order.
     */
    @Test
    void concurrentPublishersOnTheLocalStoreSeeTheirAnswersInPublishOrder() throws Exception {
        int publishers = 4;
        int perPublisher = 400;
        EngineConfig config = EngineConfig.defaults(dir).withDurability(Durability.FSYNC).withCommitBatchesInFlight(4);
        try (Engine engine = Engine.open(config, new SimpleMeterRegistry(), BatchLog.LOCAL)) {
            offlineSubscriber(engine);
            List<Answers> answers = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < publishers; p++) {
                Answers a = new Answers(perPublisher);
                answers.add(a);
                SessionHandle pub = await(engine.connect(new ConnectRequest("pub" + p, true, 0, 65_535), new RecordingListener()));
                threads.add(new Thread(() -> {
                    for (int i = 1; i <= perPublisher; i++) {
                        a.watch(i, pub.publish(i, numbered(i)));
                        if (i % 50 == 0) {
                            Thread.yield(); // let the other publishers in: several publishers per batch
                        }
                    }
                }, "publisher-" + p));
            }
            threads.forEach(Thread::start);
            for (Thread t : threads) {
                t.join(60_000);
            }
            for (int p = 0; p < publishers; p++) {
                Answers a = answers.get(p);
                a.awaitAll();
                assertEquals(oneTo(perPublisher), a.order(), "publisher " + p + "'s answers in its publish order");
                for (String thread : a.threads()) {
                    // The writer completes a batch itself when nothing is in flight or waiting (CommitPipeline).
                    assertTrue(thread.equals(COMPLETION_THREAD) || thread.equals(WRITER_THREAD) || thread.equals("publisher-" + p),
                            "an answer ran on " + thread);
                }
            }
            assertEquals(publishers * perPublisher, engine.session("sub").queuedMessages());
        }
    }
}
