package io.durablemq.engine.store;

import io.durablemq.engine.support.GatedBatchLog;
import io.durablemq.engine.support.GatedBatchLog.Submission;
import io.durablemq.engine.support.InjectedCommitFault;
import io.durablemq.engine.support.InjectedCommitFault.When;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.durablemq.engine.store.CommitterFixture.failure;
import static io.durablemq.engine.store.CommitterFixture.key;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pipelined committer on a real store: the next write starts while the last batch's
 * completions run, several batches are in flight with a log that allows it (never more than the
 * depth), completions run in batch order whatever order the writes finish in and only once their
 * batch is durable, and a failed batch fails every later one in flight, even one whose own write
 * succeeded, with the owner told once and only after the earlier batches' completions ran.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CommitPipelineTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Duration QUIET = Duration.ofMillis(300);

    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();

    /** Appends a put of key(i) and a completion that records i (checking key(i) is in the store by then). */
    private CompletableFuture<Void> put(Committer c, int i, List<Integer> ran) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (fx.lock) {
            c.put(StoreColumn.SESSIONS, key(i), new byte[]{(byte) i});
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    try {
                        assertNotNull(fx.store.get(StoreColumn.SESSIONS, key(i)), "completion of " + i + " before its write");
                        ran.add(i);
                        f.complete(null);
                    } catch (Throwable e) {
                        f.completeExceptionally(e);
                    }
                }

                @Override
                public void failed(Throwable cause) {
                    f.completeExceptionally(cause);
                }
            });
        }
        return f;
    }

    /**
     * Appends a completion that signals it started and then waits for {@code release}, behind
     * {@link CommitWriter#SMALL_BATCH_COMPLETIONS} empty ones: a batch larger than that is handed
     * to the completion thread when a write waits (a small one the writer would complete itself).
     */
    private void blockingCompletion(Committer c, CountDownLatch entered, CountDownLatch release) {
        synchronized (fx.lock) {
            c.put(StoreColumn.SESSIONS, key(0), new byte[]{0});
            CommitterFixture.emptyCompletions(c, CommitWriter.SMALL_BATCH_COMPLETIONS);
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    entered.countDown();
                    try {
                        release.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }

                @Override
                public void failed(Throwable cause) {
                    entered.countDown();
                }
            });
        }
    }

    private byte[] awaitInStore(int i) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            byte[] v = fx.store.get(StoreColumn.SESSIONS, key(i));
            if (v != null) {
                return v;
            }
            Thread.sleep(5);
        }
        return null;
    }

    @Test
    void theNextWriteStartsWhileTheLastBatchsCompletionsRun() throws Exception {
        List<Integer> ran = Collections.synchronizedList(new ArrayList<>());
        HeldWrite hold = new HeldWrite(CommitFaults.NONE);
        try (Committer c = fx.committer(hold, BatchLog.LOCAL, 2)) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            // Held after the first batch's write until the second waits in the open batch: so the writer
            // hands the first (more than SMALL_BATCH_COMPLETIONS completions) to the completion thread
            // (an idle writer, or one with a small batch, would complete it itself).
            hold.holdNext();
            blockingCompletion(c, entered, release);
            assertTrue(hold.awaitHeld(WAIT), "the first batch was written");
            CompletableFuture<Void> second = put(c, 2, ran);
            hold.release();
            assertTrue(entered.await(10, TimeUnit.SECONDS), "the first batch's completion runs");
            assertNotNull(awaitInStore(2), "the second batch is written while the first one's completion still runs");
            assertFalse(second.isDone(), "but its completion waits for the first batch's");
            release.countDown();
            assertNull(failure(second));
            assertEquals(List.of(2), ran);
        }
    }

    @Test
    void oneBatchInFlightWritesTheNextOnlyAfterTheLastCompletionsRan() throws Exception {
        List<Integer> ran = Collections.synchronizedList(new ArrayList<>());
        try (Committer c = fx.committer(CommitFaults.NONE, BatchLog.LOCAL, 1)) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            blockingCompletion(c, entered, release);
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            CompletableFuture<Void> second = put(c, 2, ran);
            Thread.sleep(QUIET.toMillis());
            assertNull(fx.store.get(StoreColumn.SESSIONS, key(2)), "not written while the first batch's completion runs");
            release.countDown();
            assertNull(failure(second));
            assertEquals(List.of(2), ran);
        }
    }

    @Test
    void completionsRunInBatchOrderWhateverOrderTheLogFinishesAndNeverMoreThanTheDepthIsInFlight() throws Exception {
        GatedBatchLog log = new GatedBatchLog();
        log.gate();
        List<Integer> ran = Collections.synchronizedList(new ArrayList<>());
        try (Committer c = fx.committer(CommitFaults.NONE, log, 4)) {
            List<CompletableFuture<Void>> futures = new ArrayList<>();
            List<Submission> held = new ArrayList<>();
            for (int i = 1; i <= 4; i++) {
                futures.add(put(c, i, ran));
                held.add(log.next(WAIT)); // submitted before any earlier one is durable
            }
            futures.add(put(c, 5, ran));
            assertTrue(log.nothingSubmittedWithin(QUIET), "a fifth batch waits: four are in flight");

            GatedBatchLog.succeed(held.get(2));
            GatedBatchLog.succeed(held.get(1));
            Thread.sleep(QUIET.toMillis());
            assertEquals(List.of(), ran, "batches 2 and 3 are durable, but batch 1 is not: nothing completes");
            GatedBatchLog.succeed(held.get(0));
            for (int i = 0; i < 3; i++) {
                assertNull(failure(futures.get(i)));
            }
            assertEquals(List.of(1, 2, 3), ran);
            Submission fifth = log.next(WAIT); // room again
            GatedBatchLog.succeed(fifth);
            Thread.sleep(QUIET.toMillis());
            assertEquals(List.of(1, 2, 3), ran, "batch 5 is durable but waits for batch 4");
            GatedBatchLog.succeed(held.get(3));
            assertNull(failure(futures.get(3)));
            assertNull(failure(futures.get(4)));
            assertEquals(List.of(1, 2, 3, 4, 5), ran);
            assertEquals(0, fx.commitFailures.get());
        }
    }

    @Test
    void concurrentAppendersSeeTheirCompletionsInAppendOrder() throws Exception {
        int threads = 4;
        int perThread = 1_500;
        ScheduledExecutorService finisher = Executors.newScheduledThreadPool(3);
        AtomicInteger outstanding = new AtomicInteger();
        AtomicInteger maxOutstanding = new AtomicInteger();
        Random random = new Random(42);
        // Writes each batch at once (so it is durable in order) but completes its future after a random
        // delay on another thread: futures finish out of order, as nothing in the contract forbids.
        BatchLog slowReplies = new BatchLog() {
            @Override
            public void write(Store s, org.rocksdb.WriteBatch batch) throws Exception {
                s.write(batch);
            }

            @Override
            public CompletableFuture<Void> submit(Store s, org.rocksdb.WriteBatch batch) throws Exception {
                s.write(batch);
                maxOutstanding.accumulateAndGet(outstanding.incrementAndGet(), Math::max);
                CompletableFuture<Void> f = new CompletableFuture<>();
                long delayMicros;
                synchronized (random) {
                    delayMicros = random.nextInt(2_000);
                }
                finisher.schedule(() -> {
                    outstanding.decrementAndGet();
                    f.complete(null);
                }, delayMicros, TimeUnit.MICROSECONDS);
                return f;
            }
        };
        AtomicLong appendSeq = new AtomicLong();
        List<Long> completedSeq = Collections.synchronizedList(new ArrayList<>());
        List<List<Integer>> perThreadOrder = new ArrayList<>();
        try (Committer c = fx.committer(CommitFaults.NONE, slowReplies, 4)) {
            List<Thread> appenders = new ArrayList<>();
            List<CompletableFuture<Void>> last = Collections.synchronizedList(new ArrayList<>());
            for (int t = 0; t < threads; t++) {
                List<Integer> order = Collections.synchronizedList(new ArrayList<>());
                perThreadOrder.add(order);
                int thread = t;
                appenders.add(new Thread(() -> {
                    CompletableFuture<Void> done = new CompletableFuture<>();
                    for (int i = 0; i < perThread; i++) {
                        int n = i;
                        synchronized (fx.lock) {
                            long seq = appendSeq.incrementAndGet();
                            c.put(StoreColumn.SESSIONS, ("t" + thread + "-" + n).getBytes(StandardCharsets.UTF_8), new byte[]{1});
                            c.onDurable(new Committer.Completion() {
                                @Override
                                public void durable() {
                                    completedSeq.add(seq);
                                    order.add(n);
                                    if (n == perThread - 1) {
                                        done.complete(null);
                                    }
                                }

                                @Override
                                public void failed(Throwable cause) {
                                    done.completeExceptionally(cause);
                                }
                            });
                        }
                        if (n % 50 == 0) {
                            Thread.yield();
                        }
                    }
                    last.add(done);
                }));
            }
            appenders.forEach(Thread::start);
            for (Thread t : appenders) {
                t.join(60_000);
            }
            for (CompletableFuture<Void> f : last) {
                assertNull(failure(f));
            }
        } finally {
            finisher.shutdownNow();
        }
        assertEquals(threads * perThread, completedSeq.size());
        for (int i = 1; i < completedSeq.size(); i++) {
            assertTrue(completedSeq.get(i) > completedSeq.get(i - 1), "completion " + i + " out of append order");
        }
        for (List<Integer> order : perThreadOrder) {
            for (int i = 0; i < perThread; i++) {
                assertEquals(i, order.get(i), "a thread's completions in its append order");
            }
        }
        assertTrue(maxOutstanding.get() <= 4, "never more than four batches in flight: " + maxOutstanding.get());
        assertEquals(0, fx.commitFailures.get());
    }

    @Test
    void aFailedBatchFailsEveryLaterOneInFlightEvenOnesWhoseWriteSucceeded() throws Exception {
        GatedBatchLog log = new GatedBatchLog();
        log.gate();
        List<Integer> ran = Collections.synchronizedList(new ArrayList<>());
        try (Committer c = fx.committer(CommitFaults.NONE, log, 4)) {
            CompletableFuture<Void> first = put(c, 1, ran);
            Submission s1 = log.next(WAIT);
            CompletableFuture<Void> second = put(c, 2, ran);
            Submission s2 = log.next(WAIT);
            CompletableFuture<Void> third = put(c, 3, ran);
            Submission s3 = log.next(WAIT);

            GatedBatchLog.succeed(s1);
            assertNull(failure(first), "the batch before the failure is durable and completes");
            GatedBatchLog.succeed(s3); // durable, but built on batch 2
            GatedBatchLog.fail(s2, true); // unknown outcome: written, yet the caller sees an error
            assertInstanceOf(StoreWriteException.class, failure(second));
            Throwable later = failure(third);
            assertInstanceOf(StoreWriteException.class, later, "a later batch in flight fails though its write succeeded");
            assertEquals(List.of(1), ran, "no completion of the failed batch or a later one ran as success");
            assertTrue(c.isFailed());
            assertEquals(1, fx.commitFailures.get(), "the owner is told once");

            CompletableFuture<Void> fourth = put(c, 4, ran);
            assertInstanceOf(StoreWriteException.class, failure(fourth), "built on the failed state: fails too");
            assertTrue(log.nothingSubmittedWithin(QUIET), "and is never submitted");
            assertEquals(1, fx.commitFailures.get());

            c.reset();
            log.ungate();
            assertNull(failure(put(c, 5, ran)), "commits again after the reset");
        }
    }

    @Test
    void aWriteThatThrowsIsReportedOnlyAfterTheEarlierBatchsCompletionsRan() throws Exception {
        InjectedCommitFault fault = new InjectedCommitFault();
        HeldWrite hold = new HeldWrite(fault);
        List<Integer> ran = Collections.synchronizedList(new ArrayList<>());
        try (Committer c = fx.committer(hold, BatchLog.LOCAL, 2)) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<Void> durableBefore;
            hold.holdNext();
            synchronized (fx.lock) { // one batch: the blocking completion, then key 1's
                blockingCompletion(c, entered, release);
                durableBefore = put(c, 1, ran);
            }
            assertTrue(hold.awaitHeld(WAIT));
            // The failing batch waits in the open batch as the first one's write ends: the first is handed over.
            fault.arm(When.BEFORE_WRITE, () -> new IllegalStateException("injected"));
            CompletableFuture<Void> failing = put(c, 2, ran);
            hold.release();
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            assertTrue(fault.awaitFired(10), "the next write was tried while the earlier completion still runs");
            Thread.sleep(QUIET.toMillis());
            assertEquals(0, fx.commitFailures.get(), "the reset waits until the durable batch's completions ran");
            assertTrue(c.isFailed(), "but nothing more is committed from the failure on");
            release.countDown();
            Throwable durableOutcome = failure(durableBefore);
            assertNull(durableOutcome, "the batch before the failure was durable: it completes as such");
            assertInstanceOf(StoreWriteException.class, failure(failing));
            assertEquals(1, fx.commitFailures.get());
            assertEquals(List.of(1), ran);
        }
    }

    @Test
    void aBadDepthIsRefusedByName() {
        assertEquals(Committer.DEFAULT_BATCHES_IN_FLIGHT, CommitPipelineDepth.parse(null));
        assertEquals(1, CommitPipelineDepth.parse(" 1 "));
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class, () -> CommitPipelineDepth.parse("0"));
        assertTrue(zero.getMessage().contains(CommitPipelineDepth.PROPERTY), zero.getMessage());
        IllegalArgumentException word = assertThrows(IllegalArgumentException.class, () -> CommitPipelineDepth.parse("many"));
        assertTrue(word.getMessage().contains("'many'"), word.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CommitPipelineDepth.parse("65"));
    }
}
