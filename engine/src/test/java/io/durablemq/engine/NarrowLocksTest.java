package io.durablemq.engine;

import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.message.MessageProperties;
import io.durablemq.engine.store.BatchOperation;
import io.durablemq.engine.store.CommitFaults;
import io.durablemq.engine.store.Committer;
import io.durablemq.engine.store.CommitterFixture;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.topic.SubscriptionIndex;
import io.durablemq.engine.topic.SubscriptionOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine's narrow locks on broker-wide structures, each run from several threads without
 * the engine's lock (issue 12, target 4, step 3 of the partitioned engine), as operation scopes
 * on a real committer and RocksDB store: retained messages ({@link RetainedMessages}) and the
 * subscription index's writer ({@link IndexWriter}). Each lock is held by an operation until its
 * writes are appended, so after any interleaving the store equals the in-memory structure;
 * without it, a change made in memory first can be appended second, and the two disagree. The
 * count lock is {@code delivery.ConcurrentReleasesTest}.
 */
class NarrowLocksTest {
    private static final int THREADS = 4;
    private static final int OPERATIONS = 2_000;
    /** Rounds in which all threads change one thing at once. */
    private static final int ROUNDS = 300;

    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();

    /**
     * Publishes that set or clear the retained message of one topic, four threads at once (one
     * topic per round, the threads meeting at a barrier before each): afterwards each topic's
     * {@code retained} record is exactly the message the map holds (the last one appended), or
     * absent where the map has none.
     */
    @Test
    @Timeout(120)
    void concurrentRetainsAndClearsLeaveTheStoreEqualToTheMap() throws Exception {
        String[] topics = new String[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            topics[r] = "r/" + r;
        }
        RetainedMessages retained = new RetainedMessages();
        CyclicBarrier round = new CyclicBarrier(THREADS);
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            c.requireOperationScope();
            runOnThreads(thread -> () -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                for (int i = 0; i < ROUNDS; i++) {
                    round.await(30, TimeUnit.SECONDS);
                    String topic = topics[i];
                    byte[] payload = thread == 0 && random.nextBoolean() ? new byte[0]
                            : ("t" + thread + "-" + i).getBytes(StandardCharsets.UTF_8);
                    Message m = new Message(topic, payload, 1, true, MessageProperties.NONE, 0);
                    try (BatchOperation op = c.operation()) {
                        retained.retain(m, payload.length == 0 ? null : MessageCodec.encode(m), c);
                        rest(random);
                        op.succeeded();
                    }
                }
                return null;
            });
            durable(c);
            for (String topic : topics) {
                Message inMemory = retained.get(topic);
                byte[] stored = fx.store.get(StoreColumn.RETAINED, Keys.retained(topic));
                if (inMemory == null) {
                    assertNull(stored, topic + ": cleared in memory, still in the store");
                } else {
                    assertTrue(stored != null, topic + ": retained in memory, not in the store");
                    assertArrayEquals(inMemory.payload(), MessageCodec.decode(stored).payload(), topic);
                }
            }
        }
        assertEquals(0, fx.commitFailures.get());
    }

    /**
     * Subscribes and unsubscribes of the same (client, filter) pair, four threads at once (one
     * pair per round, the threads meeting at a barrier before each), then of random pairs:
     * afterwards the index holds exactly the subscriptions the store has records for, and its
     * size is their number (one writer at a time: its counters lose no update).
     */
    @Test
    @Timeout(120)
    void concurrentSubscribesAndUnsubscribesLeaveTheIndexEqualToTheStore() throws Exception {
        String[] clients = {"c1", "c2", "c3"};
        String[] filters = {"f/a", "f/b", "f/c", "f/d"};
        SubscriptionIndex index = new SubscriptionIndex();
        IndexWriter writer = new IndexWriter();
        CyclicBarrier round = new CyclicBarrier(THREADS);
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            c.requireOperationScope();
            runOnThreads(thread -> () -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                for (int i = 0; i < ROUNDS + OPERATIONS; i++) {
                    if (i < ROUNDS) {
                        round.await(30, TimeUnit.SECONDS);
                    }
                    String client = i < ROUNDS ? clients[i % clients.length] : clients[random.nextInt(clients.length)];
                    String filter = i < ROUNDS ? "round/" + i : filters[random.nextInt(filters.length)];
                    try (BatchOperation op = c.operation()) {
                        if (random.nextBoolean()) {
                            writer.subscribe(index, client, Keys.session(client), filter,
                                    new SubscriptionOptions(1 + random.nextInt(2), false, false, 0, 0), c);
                        } else {
                            writer.unsubscribe(index, client, Keys.session(client), filter, c);
                        }
                        rest(random);
                        op.succeeded();
                    }
                }
                return null;
            });
            durable(c);
            int stored = 0;
            List<String> allFilters = new ArrayList<>(List.of(filters));
            for (int i = 0; i < ROUNDS; i++) {
                allFilters.add("round/" + i);
            }
            for (String client : clients) {
                for (String filter : allFilters) {
                    boolean inStore = fx.store.get(StoreColumn.SUBSCRIPTIONS, Keys.subscription(Keys.session(client), filter)) != null;
                    stored += inStore ? 1 : 0;
                    assertEquals(inStore, subscribed(index, client, filter), client + " on " + filter + ": store says " + inStore);
                }
            }
            assertEquals(stored, index.size(), "index size against the store's records");
        }
        assertEquals(0, fx.commitFailures.get());
    }

    /**
     * A shared group's members change (subscribe and unsubscribe through the index's writer) while
     * three other threads route to the group without any lock of the engine's: each choice sees the
     * members whole, under the group's own monitor (no exception, never more than one member, always
     * one while a member is subscribed for the whole run).
     */
    @Test
    @Timeout(120)
    void sharedGroupChoicesRunWhileItsMembersChange() throws Exception {
        SubscriptionIndex index = new SubscriptionIndex();
        IndexWriter writer = new IndexWriter();
        java.util.Map<String, EngineSession> sessions = new java.util.HashMap<>();
        for (int m = 0; m < 8; m++) {
            sessions.put("m" + m, new EngineSession("m" + m));
        }
        SubscriptionOptions qos1 = new SubscriptionOptions(1, false, false, 0, 0);
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            c.requireOperationScope();
            try (BatchOperation op = c.operation()) {
                writer.subscribe(index, "m0", Keys.session("m0"), "$share/g/t", qos1, c); // stays for the whole run
                op.succeeded();
            }
            java.util.concurrent.atomic.AtomicBoolean changing = new java.util.concurrent.atomic.AtomicBoolean(true);
            runOnThreads(thread -> () -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                if (thread == 0) {
                    try {
                        for (int i = 0; i < OPERATIONS * 2; i++) {
                            String member = "m" + (1 + random.nextInt(7));
                            try (BatchOperation op = c.operation()) {
                                if (random.nextBoolean()) {
                                    writer.subscribe(index, member, Keys.session(member), "$share/g/t", qos1, c);
                                } else {
                                    writer.unsubscribe(index, member, Keys.session(member), "$share/g/t", c);
                                }
                                op.succeeded();
                            }
                        }
                    } finally {
                        changing.set(false);
                    }
                    return null;
                }
                while (changing.get()) {
                    java.util.Map<EngineSession, Targets.Target> targets = Targets.match(index, sessions, "t", "publisher");
                    assertEquals(1, targets.size(), "one member of the group per message: " + targets.keySet());
                }
                return null;
            });
        }
    }

    /** A narrow lock taken out of the design's order is refused before it waits (a possible deadlock otherwise). */
    @Test
    @Timeout(30)
    void aLockTakenOutOfOrderIsRefused() throws Exception {
        RetainedMessages retained = new RetainedMessages();
        IndexWriter writer = new IndexWriter();
        try (Committer c = fx.committer(CommitFaults.NONE)) {
            c.requireOperationScope();
            try (BatchOperation op = c.operation()) {
                retained.holdFor(c);
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> writer.changeStarts(c));
                assertTrue(e.getMessage().contains("lock order"), e.getMessage());
            }
            IllegalStateException outside = assertThrows(IllegalStateException.class, () -> retained.holdFor(c));
            assertTrue(outside.getMessage().contains("outside an operation scope"), outside.getMessage());
            // Released by the operation's end: another thread takes it at once.
            CompletableFuture.runAsync(() -> {
                try (BatchOperation op = c.operation()) {
                    retained.holdFor(c);
                    op.succeeded();
                }
            }).get(10, TimeUnit.SECONDS);
        }
    }

    private static boolean subscribed(SubscriptionIndex index, String client, String filter) {
        Set<String> found = new HashSet<>();
        index.match(filter, new SubscriptionIndex.Visitor() {
            @Override
            public void subscriber(String clientId, SubscriptionOptions options) {
                found.add(clientId);
            }

            @Override
            public void sharedGroup(SubscriptionIndex.SharedGroup group) {
            }
        });
        return found.contains(client);
    }

    /**
     * The rest of an operation (routing, a pump, a send queued) between its change and its
     * append, now and then a few microseconds: without the lock, another thread's change and
     * append then fit in between.
     */
    private static void rest(ThreadLocalRandom random) {
        int r = random.nextInt(3);
        if (r == 0) {
            Thread.yield();
        } else if (r == 1) {
            LockSupport.parkNanos(10_000);
        }
    }

    /** Runs {@code work(thread)} on {@link #THREADS} threads started together; rethrows the first failure. */
    private static void runOnThreads(IntFunction<Callable<Void>> work) throws Exception {
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<Void>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                Callable<Void> body = work.apply(t);
                done.add(pool.submit(() -> {
                    start.await();
                    return body.call();
                }));
            }
            start.countDown();
            for (Future<Void> f : done) {
                f.get(90, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static void durable(Committer c) throws Exception {
        CompletableFuture<Void> f = new CompletableFuture<>();
        c.onDurable(CommitterFixture.completing(f));
        f.get(CommitterFixture.WAIT_SECONDS, TimeUnit.SECONDS);
    }
}
