package io.durablemq.engine.store;

import io.durablemq.engine.support.BatchOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import static io.durablemq.engine.store.CommitterFixture.WAIT_SECONDS;
import static io.durablemq.engine.store.CommitterFixture.completing;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Operation scopes ({@link Committer#operation()}) that hold no lock of the committer's between
 * their start and their end (issue 12, target 4, step 1 of the partitioned engine: several
 * partitions' operations must be able to run at once against one committer). Each operation's
 * writes are collected privately and appended in one critical section when it succeeds, so it
 * lands whole in exactly one batch, or, when it fails, nowhere; a batch taken while an operation
 * is open holds none of it. Before, an operation held a save point on the shared batch and its
 * caller had to hold the owner's lock for its whole length: an operation open across a batch's
 * taking was split between two batches (its first writes committed even when it then failed).
 */
class ConcurrentOperationsTest {
    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();

    /** The writes of each batch given to the log, in commit order. */
    private final List<List<BatchOps.Op>> batches = new CopyOnWriteArrayList<>();
    /** Operations open (started, not yet ended) when each batch was written: did any straddle a batch? */
    private final Set<String> openOperations = ConcurrentHashMap.newKeySet();
    private final AtomicInteger batchesWrittenWithAnOperationOpen = new AtomicInteger();
    private final BatchLog recording = (s, batch) -> {
        batches.add(BatchOps.of(s, batch));
        if (!openOperations.isEmpty()) {
            batchesWrittenWithAnOperationOpen.incrementAndGet();
        }
        s.write(batch);
    };

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Waits until everything appended so far is durable. */
    private void durable(Committer c) throws Exception {
        CompletableFuture<Void> f = new CompletableFuture<>();
        c.onDurable(completing(f));
        f.get(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    /** Where a key was written: indexes of the batches holding a write of it (any kind). */
    private List<Integer> batchesWriting(StoreColumn column, byte[] key) {
        List<Integer> found = new ArrayList<>();
        for (int b = 0; b < batches.size(); b++) {
            for (BatchOps.Op op : batches.get(b)) {
                if (op.column() == column && Arrays.equals(op.key(), key)) {
                    found.add(b);
                }
            }
        }
        return found;
    }

    /**
     * An operation open on one thread while another thread appends and has a batch written: that
     * batch holds only the other thread's write; the operation's write goes into the next batch
     * when it succeeds. Before the change, the open operation's put was in the first batch, and
     * its end then failed ("an operation scope outlived its batch").
     */
    @Test
    @Timeout(30)
    void aBatchTakenWhileAnOperationIsOpenHoldsNoneOfItAndItLandsWholeInTheNext() throws Exception {
        byte[] mine = bytes("op-body");
        byte[] mineToo = bytes("op-entry");
        byte[] theirs = bytes("other-session");
        try (Committer c = fx.committer(CommitFaults.NONE, recording, 1)) {
            BatchOperation op = c.operation(); // no lock held from here to its end
            c.put(StoreColumn.MESSAGES, mine, bytes("b"));
            CompletableFuture.runAsync(() -> {
                try {
                    c.put(StoreColumn.SESSIONS, theirs, bytes("s"));
                    durable(c);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }).get(WAIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(1, batches.size(), String.valueOf(batches));
            assertEquals(1, batches.get(0).size(), "only the other thread's write: " + batches.get(0));
            assertTrue(batches.get(0).get(0).is(BatchOps.Kind.PUT, StoreColumn.SESSIONS, theirs), String.valueOf(batches));
            assertNull(fx.store.get(StoreColumn.MESSAGES, mine), "an open operation's write reached the store");

            c.putNew(StoreColumn.QUEUES, mineToo, bytes("e"));
            op.succeeded();
            durable(c);
            assertEquals(2, batches.size(), String.valueOf(batches));
            assertEquals(List.of(1), batchesWriting(StoreColumn.MESSAGES, mine));
            assertEquals(List.of(1), batchesWriting(StoreColumn.QUEUES, mineToo));
            assertArrayEquals(bytes("b"), fx.store.get(StoreColumn.MESSAGES, mine));
            assertArrayEquals(bytes("e"), fx.store.get(StoreColumn.QUEUES, mineToo));
        }
        assertEquals(0, fx.commitFailures.get());
    }

    /**
     * An operation that fails after a batch was written while it was open: nothing of it is in
     * any batch or in the store, and the committer goes on. Before the change, its first write
     * had already been committed with the other thread's batch.
     */
    @Test
    @Timeout(30)
    void anOperationThatFailsAfterABatchWasWrittenLeavesNothingAnywhere() throws Exception {
        byte[] mine = bytes("op-body");
        byte[] theirs = bytes("other-session");
        CompletableFuture<Void> myAnswer = new CompletableFuture<>();
        try (Committer c = fx.committer(CommitFaults.NONE, recording, 1)) {
            try (BatchOperation op = c.operation()) {
                c.put(StoreColumn.MESSAGES, mine, bytes("b"));
                c.onDurable(completing(myAnswer));
                CompletableFuture.runAsync(() -> {
                    try {
                        c.put(StoreColumn.SESSIONS, theirs, bytes("s"));
                        durable(c);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }).get(WAIT_SECONDS, TimeUnit.SECONDS);
                c.put(StoreColumn.INFLIGHT, mine, bytes("i"));
                // no succeeded(): the operation failed
            }
            durable(c);
            assertEquals(List.of(), batchesWriting(StoreColumn.MESSAGES, mine), String.valueOf(batches));
            assertEquals(List.of(), batchesWriting(StoreColumn.INFLIGHT, mine), String.valueOf(batches));
            assertNull(fx.store.get(StoreColumn.MESSAGES, mine));
            assertNull(fx.store.get(StoreColumn.INFLIGHT, mine));
            assertArrayEquals(bytes("s"), fx.store.get(StoreColumn.SESSIONS, theirs));
            assertFalse(myAnswer.isDone(), "a failed operation's completion never runs");
        }
        assertEquals(0, fx.commitFailures.get());
    }

    /**
     * An operation whose append is refused half way (a SingleDelete of a key the batch rewrites,
     * checked when the operation joins the batch): {@code succeeded()} throws, and the batch is as
     * it was before the append: neither the operation's write before the refused one nor anything
     * after it is written, while the batch's earlier write is.
     */
    @Test
    @Timeout(30)
    void anAppendRefusedHalfWayLeavesTheBatchAsItWas() throws Exception {
        byte[] record = bytes("session-k");
        byte[] body = bytes("body-x");
        byte[] entry = bytes("entry-y");
        CompletableFuture<Void> done = new CompletableFuture<>();
        try (Committer c = fx.committer(CommitFaults.NONE, recording, 1)) {
            synchronized (fx.lock) { // the writer cannot take the batch in between: both land in one batch
                c.putOncePerBatch(StoreColumn.SESSIONS, record, bytes("record"));
                try (BatchOperation op = c.operation()) {
                    c.put(StoreColumn.MESSAGES, body, bytes("x"));
                    c.singleDelete(StoreColumn.SESSIONS, record); // recorded; refused when appended
                    c.putNew(StoreColumn.QUEUES, entry, bytes("y"));
                    IllegalStateException refused = assertThrows(
                            IllegalStateException.class, op::succeeded);
                    assertTrue(refused.getMessage().contains("put once"), refused.getMessage());
                }
                c.onDurable(completing(done));
            }
            done.get(WAIT_SECONDS, TimeUnit.SECONDS);
        }
        assertEquals(1, batches.size(), String.valueOf(batches));
        assertEquals(1, batches.get(0).size(), "only the record put before the operation: " + batches.get(0));
        assertTrue(batches.get(0).get(0).is(BatchOps.Kind.PUT, StoreColumn.SESSIONS, record), String.valueOf(batches));
        assertArrayEquals(bytes("record"), fx.store.get(StoreColumn.SESSIONS, record));
        assertNull(fx.store.get(StoreColumn.MESSAGES, body));
        assertNull(fx.store.get(StoreColumn.QUEUES, entry));
        assertEquals(0, fx.commitFailures.get(), "a refused append fails its operation, not the batch");
    }

    /**
     * A scope opened inside another on the same thread (an operation that runs another, as a
     * will routed inside a disconnect can): a child that succeeds joins its parent and lands with
     * it; a child that fails is dropped alone; nothing reaches the batch before the parent ends.
     */
    @Test
    @Timeout(30)
    void aNestedScopeJoinsItsParentAndAFailedOneIsDroppedAlone() throws Exception {
        byte[] outer = bytes("outer");
        byte[] kept = bytes("inner-kept");
        byte[] dropped = bytes("inner-dropped");
        try (Committer c = fx.committer(CommitFaults.NONE, recording, 1)) {
            try (BatchOperation parent = c.operation()) {
                c.put(StoreColumn.SESSIONS, outer, bytes("o"));
                try (BatchOperation child = c.operation()) {
                    c.put(StoreColumn.SESSIONS, kept, bytes("k"));
                    child.succeeded();
                }
                try (BatchOperation child = c.operation()) {
                    c.put(StoreColumn.SESSIONS, dropped, bytes("d"));
                    // no succeeded(): dropped
                }
                durableFromAnotherThread(c);
                assertEquals(List.of(), batches, "nothing of an open operation is in a batch");
                parent.succeeded();
            }
            durable(c);
            assertEquals(1, batches.size(), String.valueOf(batches));
            assertEquals(List.of(0), batchesWriting(StoreColumn.SESSIONS, outer));
            assertEquals(List.of(0), batchesWriting(StoreColumn.SESSIONS, kept));
            assertEquals(List.of(), batchesWriting(StoreColumn.SESSIONS, dropped));
            assertNull(fx.store.get(StoreColumn.SESSIONS, dropped));
        }
    }

    /** Waits, on another thread (which has no scope open), until everything appended so far is durable. */
    private void durableFromAnotherThread(Committer c) throws Exception {
        CompletableFuture.runAsync(() -> {
            try {
                durable(c);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }).get(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    /**
     * Four threads run 300 operations each against one committer, none holding any lock of its,
     * with pauses inside the operations so that batches are taken while operations are open;
     * every seventh operation fails half way. Each operation writes a body, an in-flight record,
     * a fresh queue entry (deleted again by the same operation every fifth time: neither written)
     * and its thread's session record once per batch. Afterwards: every successful operation's
     * writes are all in one batch, every failed one's in none; the store holds exactly the
     * successful operations' records and each thread's last successful session value; each
     * operation's completion ran once, after its writes were in the store, in each thread's
     * operation order.
     */
    @Test
    @Timeout(120)
    void operationsOnFourThreadsEachLandWholeInOneBatchOrNowhere() throws Exception {
        int threads = 4;
        int perThread = 300;
        Map<Integer, List<Integer>> answered = new ConcurrentHashMap<>();
        List<String> wrongAnswers = new CopyOnWriteArrayList<>();
        try (Committer c = fx.committer(CommitFaults.NONE, recording, 2)) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> runs = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    answered.put(t, new CopyOnWriteArrayList<>());
                    runs.add(pool.submit(() -> {
                        for (int i = 0; i < perThread; i++) {
                            runOperation(c, thread, i, answered.get(thread), wrongAnswers);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : runs) {
                    f.get(90, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            durable(c);
        }
        assertEquals(0, fx.commitFailures.get());
        assertEquals(0, fx.completionErrors.get());
        assertEquals(List.of(), wrongAnswers);
        assertTrue(batchesWrittenWithAnOperationOpen.get() > 0,
                "no batch was written while an operation was open: the test did not test what it claims");

        for (int t = 0; t < threads; t++) {
            List<Integer> expectedAnswers = new ArrayList<>();
            String lastSession = null;
            for (int i = 0; i < perThread; i++) {
                String id = t + "-" + i;
                byte[] body = bytes("body-" + id);
                byte[] entry = bytes("entry-" + id);
                List<Integer> bodyIn = batchesWriting(StoreColumn.MESSAGES, body);
                List<Integer> inflightIn = batchesWriting(StoreColumn.INFLIGHT, body);
                List<Integer> entryIn = batchesWriting(StoreColumn.QUEUES, entry);
                if (fails(i)) {
                    assertEquals(List.of(), bodyIn, "failed operation " + id + " has its body written");
                    assertEquals(List.of(), inflightIn, "failed operation " + id + " has its in-flight record written");
                    assertEquals(List.of(), entryIn, "failed operation " + id + " has its entry written");
                    assertNull(fx.store.get(StoreColumn.MESSAGES, body), id);
                    continue;
                }
                expectedAnswers.add(i);
                lastSession = "session-value-" + id;
                assertEquals(1, bodyIn.size(), "operation " + id + "'s body in batches " + bodyIn);
                assertEquals(bodyIn, inflightIn, "operation " + id + " split between batches");
                if (dropsItsEntry(i)) {
                    assertEquals(List.of(), entryIn, "an entry put and deleted by one operation is written: " + id);
                    assertNull(fx.store.get(StoreColumn.QUEUES, entry), id);
                } else {
                    assertEquals(bodyIn, entryIn, "operation " + id + " split between batches");
                    assertArrayEquals(bytes("e"), fx.store.get(StoreColumn.QUEUES, entry), id);
                }
                assertArrayEquals(bytes("b"), fx.store.get(StoreColumn.MESSAGES, body), id);
                assertArrayEquals(bytes("i"), fx.store.get(StoreColumn.INFLIGHT, body), id);
            }
            assertEquals(expectedAnswers, answered.get(t), "thread " + t + "'s answers");
            assertArrayEquals(bytes(lastSession), fx.store.get(StoreColumn.SESSIONS, bytes("session-" + t)), "thread " + t);
        }
    }

    private static boolean fails(int i) {
        return i % 7 == 3;
    }

    private static boolean dropsItsEntry(int i) {
        return i % 5 == 0;
    }

    /** One operation of the four-thread test; a failing one throws half way and is closed without succeeded(). */
    private void runOperation(Committer c, int thread, int i, List<Integer> answers, List<String> wrongAnswers) {
        String id = thread + "-" + i;
        byte[] body = bytes("body-" + id);
        byte[] entry = bytes("entry-" + id);
        openOperations.add(id);
        try (BatchOperation op = c.operation()) {
            c.put(StoreColumn.MESSAGES, body, bytes("b"));
            c.putNew(StoreColumn.QUEUES, entry, bytes("e"));
            pause();
            c.putOncePerBatch(StoreColumn.SESSIONS, bytes("session-" + thread), bytes("session-value-" + id));
            if (fails(i)) {
                throw new IllegalStateException("injected failure half way through " + id);
            }
            if (dropsItsEntry(i)) {
                c.singleDelete(StoreColumn.QUEUES, entry); // moved on in the same operation: nothing written
            }
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    if (fx.store.get(StoreColumn.MESSAGES, body) == null) {
                        wrongAnswers.add(id + " answered before its body was in the store");
                    }
                    answers.add(i);
                }

                @Override
                public void failed(Throwable cause) {
                    wrongAnswers.add(id + " failed: " + cause);
                }
            });
            pause();
            c.put(StoreColumn.INFLIGHT, body, bytes("i"));
            op.succeeded();
        } catch (IllegalStateException injected) {
            if (!fails(i)) {
                fail("operation " + id + " threw", injected);
            }
        } finally {
            openOperations.remove(id);
        }
    }

    /** A short pause inside an operation, so that the writer takes batches while operations are open. */
    private static void pause() {
        int r = ThreadLocalRandom.current().nextInt(4);
        if (r == 0) {
            LockSupport.parkNanos(50_000);
        } else if (r == 1) {
            Thread.yield();
        }
    }
}
