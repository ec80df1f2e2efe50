package io.durablemq.engine.store;

import io.durablemq.engine.support.GatedBatchLog;
import io.durablemq.engine.support.GatedBatchLog.Submission;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

import static io.durablemq.engine.store.CommitterFixture.failure;
import static io.durablemq.engine.store.CommitterFixture.key;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The writer completes a batch itself when the hand-off to the completion thread buys nothing
 * (engine/README.md, "The pipelined committer"): on a real store, a lone batch's completions run
 * on the writer ({@code durablemq-committer}) and time themselves from their own batch; with a
 * batch in flight, a write waiting in the open batch, or a replicated log's pending submission they
 * are handed over ({@code durablemq-commit-completions}) as before; the order is one order across
 * the switch under concurrent appenders; a failed batch still fails every later one of its epoch,
 * also one written when the pipeline had gone idle; and completions run on the writer that append
 * writes or open operations, taking a lock the appenders hold around their own operations, never
 * deadlock with it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CommitOnWriterTest {
    private static final String WRITER = "durablemq-committer";
    private static final String COMPLETER = "durablemq-commit-completions";
    private static final Duration WAIT = Duration.ofSeconds(10);

    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();

    /** What one completion saw as it ran. */
    private record Ran(String thread, long writeEndedNanos, long ranNanos, boolean keyInStore) {
    }

    /** Appends a put of key(i) and a completion that records what it saw; one batch unless the caller adds more. */
    private CompletableFuture<Ran> put(Committer c, int i) {
        CompletableFuture<Ran> f = new CompletableFuture<>();
        synchronized (fx.lock) {
            c.put(StoreColumn.SESSIONS, key(i), new byte[]{(byte) i});
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    try {
                        f.complete(new Ran(Thread.currentThread().getName(), c.writeEndedNanos(), System.nanoTime(),
                                fx.store.get(StoreColumn.SESSIONS, key(i)) != null));
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

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(CommitterFixture.WAIT_SECONDS, TimeUnit.SECONDS);
    }

    private static void awaitNothingInFlight(Committer c) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (c.batchesInFlight() > 0) {
            assertTrue(System.nanoTime() < deadline, "the completion thread never finished its batches");
            Thread.sleep(1);
        }
    }

    @Test
    void anIdleWritersBatchIsCompletedOnTheWriterTimedFromItsOwnWrite() throws Exception {
        try (Committer c = fx.committer(CommitFaults.NONE, BatchLog.LOCAL, 4)) {
            for (int i = 1; i <= 20; i++) {
                long appended = System.nanoTime();
                Ran r = await(put(c, i));
                assertEquals(WRITER, r.thread(), "batch " + i + ": nothing in flight, nothing waiting");
                assertTrue(r.keyInStore(), "completed only once its write is in the store");
                assertTrue(r.writeEndedNanos() > appended && r.writeEndedNanos() <= r.ranNanos(),
                        "writeEndedNanos is this batch's, not an earlier one's");
            }
            assertEquals(20, c.batchesCompletedOnWriter());
            assertEquals(20, fx.runByWriter.get(), "the observer is told (the broker's durablemq_commit_completed_batches)");
            assertEquals(0, fx.runByCompletionThread.get());
            assertEquals(0, fx.commitFailures.get());
        }
    }

    @Test
    void withABatchInFlightOrAWriteWaitingTheBatchIsHandedOver() throws Exception {
        HeldWrite hold = new HeldWrite(CommitFaults.NONE);
        try (Committer c = fx.committer(hold, BatchLog.LOCAL, 4)) {
            // Batch 1: a write waits in the open batch when its write ends: handed over.
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<String> firstThread = new CompletableFuture<>();
            hold.holdNext();
            synchronized (fx.lock) {
                c.put(StoreColumn.SESSIONS, key(1), new byte[]{1});
                CommitterFixture.emptyCompletions(c, CommitWriter.SMALL_BATCH_COMPLETIONS); // a large batch: a small one stays on the writer
                c.onDurable(new Committer.Completion() {
                    @Override
                    public void durable() {
                        firstThread.complete(Thread.currentThread().getName());
                        entered.countDown();
                        try {
                            release.await(30, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }

                    @Override
                    public void failed(Throwable cause) {
                        firstThread.completeExceptionally(cause);
                    }
                });
            }
            assertTrue(hold.awaitHeld(WAIT));
            CompletableFuture<Ran> waiting = put(c, 2); // in the open batch as batch 1's write ends
            hold.release();
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            assertEquals(COMPLETER, await(firstThread), "a write was waiting: batch 1 was handed over");

            // Batch 2 (and 3) written while batch 1's completion still runs: in flight behind it, handed over.
            assertNotNull(awaitInStore(2));
            long appended3 = System.nanoTime();
            CompletableFuture<Ran> third = put(c, 3);
            assertNotNull(awaitInStore(3));
            assertFalse(waiting.isDone() || third.isDone(), "they wait for batch 1's completion");
            release.countDown();
            assertEquals(COMPLETER, await(waiting).thread(), "batch 1 was in flight");
            Ran r3 = await(third);
            assertEquals(COMPLETER, r3.thread(), "batch 1 was in flight");
            assertTrue(r3.writeEndedNanos() > appended3, "writeEndedNanos is batch 3's own on the completion thread too");

            // Once the completion thread is done, a lone batch is the writer's again.
            awaitNothingInFlight(c);
            assertEquals(WRITER, await(put(c, 4)).thread());
            assertEquals(1, fx.runByWriter.get());
            assertTrue(fx.runByCompletionThread.get() >= 3, "batches 1 to 3 at least: " + fx.runByCompletionThread.get());
            assertEquals(0, fx.commitFailures.get());
        }
    }

    @Test
    void aSmallBatchIsCompletedOnTheWriterEvenWhileAWriteWaits() throws Exception {
        HeldWrite hold = new HeldWrite(CommitFaults.NONE);
        try (Committer c = fx.committer(hold, BatchLog.LOCAL, 4)) {
            hold.holdNext();
            CompletableFuture<Ran> first = put(c, 1); // one completion: a small batch
            assertTrue(hold.awaitHeld(WAIT));
            CompletableFuture<Ran> waiting = put(c, 2); // in the open batch as batch 1's write ends
            hold.release();
            assertEquals(WRITER, await(first).thread(), "a write waited, but the batch is small: no hand-off");
            assertEquals(WRITER, await(waiting).thread());
            assertEquals(0, fx.runByCompletionThread.get());
            assertEquals(0, fx.commitFailures.get());
        }
    }

    @Test
    void aReplicatedLogsPendingSubmissionIsAlwaysHandedOver() throws Exception {
        GatedBatchLog log = new GatedBatchLog();
        log.gate();
        try (Committer c = fx.committer(CommitFaults.NONE, log, 4)) {
            CompletableFuture<Ran> first = put(c, 1);
            Submission s = log.next(WAIT); // nothing in flight before it, nothing waiting after it
            Thread.sleep(50);
            assertFalse(first.isDone());
            GatedBatchLog.succeed(s);
            Ran r = await(first);
            assertEquals(COMPLETER, r.thread(), "the writer never waits for a replicated log's commit");
            assertTrue(r.keyInStore());
            for (int i = 2; i <= 21; i++) {
                CompletableFuture<Ran> f = put(c, i);
                GatedBatchLog.succeed(log.next(WAIT)); // durable at once, racing the writer's look at its future
                assertEquals(COMPLETER, await(f).thread(), "a log with its own submit: always handed over");
            }
            CompletableFuture<String> aloneThread = new CompletableFuture<>();
            c.onDurable(new Committer.Completion() { // a batch of a completion only: nothing submitted
                @Override
                public void durable() {
                    aloneThread.complete(Thread.currentThread().getName());
                }

                @Override
                public void failed(Throwable cause) {
                    aloneThread.completeExceptionally(cause);
                }
            });
            assertEquals(COMPLETER, await(aloneThread), "on a replicated log, also a batch with nothing to write");
            assertEquals(0, c.batchesCompletedOnWriter());
        }
    }

    @Test
    void theOrderIsOneOrderAcrossTheSwitchUnderConcurrentAppenders() throws Exception {
        int threads = 4;
        int perRound = 250;
        int rounds = 8;
        AtomicLong appendSeq = new AtomicLong();
        AtomicLong lastCompleted = new AtomicLong();
        List<String> outOfOrder = new CopyOnWriteArrayList<>();
        Map<String, AtomicInteger> byThread = new ConcurrentHashMap<>();
        try (Committer c = fx.committer(CommitFaults.NONE, BatchLog.LOCAL, 4)) {
            for (int round = 0; round < rounds; round++) {
                List<Thread> appenders = new ArrayList<>();
                List<CompletableFuture<Void>> lasts = new CopyOnWriteArrayList<>();
                for (int t = 0; t < threads; t++) {
                    String prefix = "r" + round + "t" + t + "-";
                    appenders.add(new Thread(() -> {
                        CompletableFuture<Void> last = new CompletableFuture<>();
                        for (int i = 0; i < perRound; i++) {
                            boolean isLast = i == perRound - 1;
                            synchronized (fx.lock) { // the sequence number is the append order
                                long seq = appendSeq.incrementAndGet();
                                c.put(StoreColumn.SESSIONS, (prefix + i).getBytes(StandardCharsets.UTF_8), new byte[]{1});
                                c.onDurable(new Committer.Completion() {
                                    @Override
                                    public void durable() {
                                        byThread.computeIfAbsent(Thread.currentThread().getName(), n -> new AtomicInteger())
                                                .incrementAndGet();
                                        long before = lastCompleted.getAndSet(seq);
                                        if (before != seq - 1) {
                                            outOfOrder.add(seq + " after " + before + " on " + Thread.currentThread().getName());
                                        }
                                        if (isLast) {
                                            last.complete(null);
                                        }
                                    }

                                    @Override
                                    public void failed(Throwable cause) {
                                        last.completeExceptionally(cause);
                                    }
                                });
                            }
                            if (i % 25 == 0) {
                                Thread.yield();
                            }
                        }
                        lasts.add(last);
                    }));
                }
                appenders.forEach(Thread::start);
                for (Thread t : appenders) {
                    t.join(60_000);
                }
                for (CompletableFuture<Void> f : lasts) {
                    assertNull(failure(f));
                }
                // Between bursts the committer idles: the next lone batch is completed by the writer.
                awaitNothingInFlight(c);
                CompletableFuture<Void> lone = new CompletableFuture<>();
                long seqLone;
                synchronized (fx.lock) {
                    seqLone = appendSeq.incrementAndGet();
                    c.put(StoreColumn.SESSIONS, ("lone" + round).getBytes(StandardCharsets.UTF_8), new byte[]{1});
                    c.onDurable(new Committer.Completion() {
                        @Override
                        public void durable() {
                            long before = lastCompleted.getAndSet(seqLone);
                            if (before != seqLone - 1) {
                                outOfOrder.add(seqLone + " after " + before);
                            }
                            if (Thread.currentThread().getName().equals(WRITER)) {
                                lone.complete(null);
                            } else {
                                lone.completeExceptionally(new AssertionError("a lone batch ran on "
                                        + Thread.currentThread().getName()));
                            }
                        }

                        @Override
                        public void failed(Throwable cause) {
                            lone.completeExceptionally(cause);
                        }
                    });
                }
                assertNull(failure(lone));
            }
        }
        assertEquals(List.of(), outOfOrder, "every completion right after the one appended before it");
        assertEquals(appendSeq.get(), lastCompleted.get());
        assertTrue(byThread.containsKey(COMPLETER), "the bursts handed batches over (by thread: " + byThread + ")");
        assertEquals(0, fx.commitFailures.get());
    }

    @Test
    void aFailedBatchFailsEveryLaterOneOfItsEpochAlsoOneWrittenWhenThePipelineHadGoneIdle() throws Exception {
        GatedBatchLog log = new GatedBatchLog();
        HeldWrite hold = new HeldWrite(CommitFaults.NONE);
        log.gate();
        try (Committer c = fx.committer(hold, log, 4)) {
            CompletableFuture<Ran> first = put(c, 1);
            Submission s1 = log.next(WAIT); // pending: in flight
            log.ungate();
            CompletableFuture<Ran> second = put(c, 2); // written at once, but batch 1 is in flight: handed over
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (c.batchesInFlight() < 2) {
                assertTrue(System.nanoTime() < deadline, "batch 2 was never handed over");
                Thread.sleep(1);
            }
            hold.holdNext();
            CompletableFuture<Ran> third = put(c, 3); // taken before the failure: not poisoned; written, then held
            assertTrue(hold.awaitHeld(WAIT));

            GatedBatchLog.fail(s1, false);
            assertInstanceOf(StoreWriteException.class, failure(first));
            assertInstanceOf(StoreWriteException.class, failure(second), "built on batch 1: fails though written");
            awaitNothingInFlight(c); // the pipeline is idle as the writer decides about batch 3
            hold.release();
            assertInstanceOf(StoreWriteException.class, failure(third),
                    "built on batch 1 too: never completed as durable, by the writer or anyone");
            assertNotNull(fx.store.get(StoreColumn.SESSIONS, key(3)), "though its write reached the store");
            assertTrue(c.isFailed());
            assertInstanceOf(StoreWriteException.class, failure(put(c, 4)), "and later batches of the epoch");
            assertEquals(1, fx.commitFailures.get(), "the owner is told once");
            assertEquals(0, c.batchesCompletedOnWriter());

            c.reset();
            assertEquals(COMPLETER, await(put(c, 5)).thread(), "commits again after the reset (a gated log's: handed over)");
        }
    }

    @Test
    void aFailingLocalWriteFailsEveryLaterBatchOfItsEpochNoneCompletedAsDurable() throws Exception {
        io.durablemq.engine.support.InjectedCommitFault fault = new io.durablemq.engine.support.InjectedCommitFault();
        try (Committer c = fx.committer(fault, BatchLog.LOCAL, 4)) {
            assertEquals(WRITER, await(put(c, 1)).thread());
            fault.arm(io.durablemq.engine.support.InjectedCommitFault.When.AFTER_WRITE,
                    () -> new IllegalStateException("injected after the write"));
            CompletableFuture<Ran> failing = put(c, 2); // in the store, yet its outcome is unknown
            assertTrue(fault.awaitFired(10));
            List<CompletableFuture<Ran>> later = new ArrayList<>();
            for (int i = 3; i <= 12; i++) {
                later.add(put(c, i)); // same epoch: poisoned, whether the pipeline is busy or idle when taken
            }
            assertInstanceOf(StoreWriteException.class, failure(failing));
            for (CompletableFuture<Ran> f : later) {
                assertInstanceOf(StoreWriteException.class, failure(f), "built on the failed batch");
            }
            assertNotNull(fx.store.get(StoreColumn.SESSIONS, key(2)));
            assertTrue(c.isFailed());
            assertEquals(1, fx.commitFailures.get(), "the owner is told once");
            assertEquals(1, c.batchesCompletedOnWriter(), "only batch 1 was completed by the writer");

            c.reset();
            assertEquals(WRITER, await(put(c, 13)).thread(), "after the reset a lone batch is the writer's again");
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void completionsOnTheWriterThatAppendWritesDoNotDeadlock() throws Exception {
        int links = 200;
        List<String> threads = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> end = new CompletableFuture<>();
        try (Committer c = fx.committer(CommitFaults.NONE, BatchLog.LOCAL, 4)) {
            chain(c, 1, links, threads, end);
            assertNull(failure(end));
        }
        assertEquals(links, threads.size());
        assertEquals(List.of(WRITER), threads.stream().distinct().toList(),
                "each link was alone: completed by the writer, which then wrote the next");
        for (int i = 1; i <= links; i++) {
            assertNotNull(fx.store.get(StoreColumn.SESSIONS, key(i)));
        }
    }

    /** Appends link i: its completion (once key(i) is durable) appends link i + 1, up to {@code links}. */
    private void chain(Committer c, int i, int links, List<String> threads, CompletableFuture<Void> end) {
        synchronized (fx.lock) {
            c.put(StoreColumn.SESSIONS, key(i), new byte[]{1});
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    threads.add(Thread.currentThread().getName());
                    if (fx.store.get(StoreColumn.SESSIONS, key(i)) == null) {
                        end.completeExceptionally(new AssertionError("link " + i + " completed before its write"));
                    } else if (i == links) {
                        end.complete(null);
                    } else {
                        chain(c, i + 1, links, threads, end);
                    }
                }

                @Override
                public void failed(Throwable cause) {
                    end.completeExceptionally(cause);
                }
            });
        }
    }

    /**
     * The engine's lock order: an operation takes its partition's lock, then appends under the
     * committer's. An appender holds {@code partition} around each of its operations while the
     * completions, run by the writer whenever it is idle, take {@code partition} and open
     * operations of their own. Were the writer to run them under the committer's lock (or any lock
     * an appender waits for), this would deadlock.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void completionsOnTheWriterThatTakeAnAppendersLockAndOpenOperationsDoNotDeadlock() throws Exception {
        int operations = 500;
        ReentrantLock partition = new ReentrantLock();
        AtomicInteger nested = new AtomicInteger();
        Map<String, AtomicInteger> byThread = new ConcurrentHashMap<>();
        List<CompletableFuture<Void>> nestedDone = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> lastOuter = new CompletableFuture<>();
        try (Committer c = fx.committer(CommitFaults.NONE, BatchLog.LOCAL, 4)) {
            c.requireOperationScope(); // as the engine: every write inside an operation
            Thread appender = new Thread(() -> {
                for (int i = 0; i < operations; i++) {
                    int n = i;
                    partition.lock();
                    try (BatchOperation op = c.operation()) {
                        c.put(StoreColumn.SESSIONS, ("outer" + n).getBytes(StandardCharsets.UTF_8), new byte[]{1});
                        c.onDurable(new Committer.Completion() {
                            @Override
                            public void durable() {
                                byThread.computeIfAbsent(Thread.currentThread().getName(), x -> new AtomicInteger())
                                        .incrementAndGet();
                                CompletableFuture<Void> done = new CompletableFuture<>();
                                nestedDone.add(done);
                                partition.lock(); // as an engine completion taking its session's partition
                                try (BatchOperation inner = c.operation()) {
                                    c.put(StoreColumn.SESSIONS, ("inner" + n).getBytes(StandardCharsets.UTF_8), new byte[]{2});
                                    c.onDurable(CommitterFixture.completing(done));
                                    inner.succeeded();
                                    nested.incrementAndGet();
                                } finally {
                                    partition.unlock();
                                }
                                if (n == operations - 1) {
                                    lastOuter.complete(null);
                                }
                            }

                            @Override
                            public void failed(Throwable cause) {
                                lastOuter.completeExceptionally(cause);
                            }
                        });
                        op.succeeded();
                    } finally {
                        partition.unlock();
                    }
                    if (n % 10 == 0) {
                        try {
                            Thread.sleep(1); // idle moments: the writer completes batches itself
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                    }
                }
            }, "appender");
            appender.start();
            assertNull(failure(lastOuter));
            appender.join(30_000);
            assertFalse(appender.isAlive());
            assertEquals(operations, nested.get());
            for (CompletableFuture<Void> f : nestedDone) {
                assertNull(failure(f));
            }
        }
        assertTrue(byThread.containsKey(WRITER), "the writer ran some of them (by thread: " + byThread + ")");
        for (int i = 0; i < operations; i++) {
            assertNotNull(fx.store.get(StoreColumn.SESSIONS, ("inner" + i).getBytes(StandardCharsets.UTF_8)));
        }
        assertEquals(0, fx.commitFailures.get());
        assertEquals(0, fx.completionErrors.get());
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
}
