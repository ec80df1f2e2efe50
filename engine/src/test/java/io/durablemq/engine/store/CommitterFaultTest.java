package io.durablemq.engine.store;

import io.durablemq.engine.support.InjectedCommitFault;
import io.durablemq.engine.support.InjectedCommitFault.When;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committer on a real store, with faults thrown around its write and by completions: no
 * future ever hangs, a failed write poisons everything after it, the owner is told once, and
 * the thread survives whatever a completion throws.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CommitterFaultTest {
    @TempDir
    Path dir;
    Store store;
    final Object lock = new Object();
    final InjectedCommitFault fault = new InjectedCommitFault();
    final AtomicInteger commitFailures = new AtomicInteger();
    final AtomicInteger completionErrors = new AtomicInteger();
    final Committer.Observer observer = new Committer.Observer() {
        @Override
        public void committed(int writes, int completions, long nanos) {
        }

        @Override
        public void commitFailed(StoreWriteException cause) {
            commitFailures.incrementAndGet();
        }

        @Override
        public void completionThrew(Throwable error) {
            completionErrors.incrementAndGet();
        }
    };

    @BeforeEach
    void open() throws Exception {
        store = Store.open(dir.resolve("store"), Durability.OS);
    }

    @AfterEach
    void close() {
        store.close();
    }

    private static byte[] key(int i) {
        return ("k" + i).getBytes(StandardCharsets.UTF_8);
    }

    /** Appends one put and a completion for it; the future says what the committer told it. */
    private CompletableFuture<Void> put(Committer c, int i) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (lock) {
            c.put(StoreColumn.SESSIONS, key(i), new byte[]{(byte) i});
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                    f.complete(null);
                }

                @Override
                public void failed(Throwable cause) {
                    f.completeExceptionally(cause);
                }
            });
        }
        return f;
    }

    private static Throwable failure(CompletableFuture<?> f) throws Exception {
        try {
            f.get(10, TimeUnit.SECONDS); // bounded: a hanging future fails the test here
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }

    @Test
    void runtimeExceptionBeforeTheWriteFailsTheBatchAndEveryLaterOneUntilReset() throws Exception {
        try (Committer c = new Committer(store, observer, lock, fault)) {
            assertNull(failure(put(c, 1)));
            fault.arm(When.BEFORE_WRITE, () -> new IllegalStateException("injected"));
            Throwable first = failure(put(c, 2));
            assertInstanceOf(StoreWriteException.class, first);
            assertInstanceOf(IllegalStateException.class, first.getCause());
            assertTrue(c.isFailed());
            // Built on the failed state: fails too, without a write.
            assertInstanceOf(StoreWriteException.class, failure(put(c, 3)));
            assertEquals(1, commitFailures.get(), "the owner is told once");
            assertNull(store.get(StoreColumn.SESSIONS, key(2)), "a fault before the write wrote nothing");
            assertNull(store.get(StoreColumn.SESSIONS, key(3)));

            c.reset();
            assertFalse(c.isFailed());
            assertNull(failure(put(c, 4)), "commits again after the reset");
            assertArrayEquals(new byte[]{4}, store.get(StoreColumn.SESSIONS, key(4)));
        }
    }

    @Test
    void failureAfterTheWriteIsAnUnknownOutcomeTheStoreHoldsTheBatch() throws Exception {
        try (Committer c = new Committer(store, observer, lock, fault)) {
            fault.arm(When.AFTER_WRITE, () -> new RuntimeException("injected after the write"));
            assertInstanceOf(StoreWriteException.class, failure(put(c, 7)));
            assertArrayEquals(new byte[]{7}, store.get(StoreColumn.SESSIONS, key(7)),
                    "the caller saw an error, yet the batch is in the store");
            assertTrue(c.isFailed());
        }
    }

    @Test
    void errorFromTheWriteKillsTheThreadYetNoFutureHangs() throws Exception {
        Committer c = new Committer(store, observer, lock, fault);
        assertNull(failure(put(c, 1)));
        fault.arm(When.BEFORE_WRITE, () -> new OutOfMemoryError("injected"));
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        for (int i = 10; i < 60; i++) {
            futures.add(put(c, i)); // some in the failing batch, some queued behind it or after the death
        }
        for (CompletableFuture<Void> f : futures) {
            assertInstanceOf(StoreWriteException.class, failure(f));
        }
        assertTrue(c.isFailed());
        // Appended after the thread died: fails at once instead of waiting for a thread that is gone.
        assertInstanceOf(StoreWriteException.class, failure(put(c, 99)));
        assertEquals(1, commitFailures.get(), "write failure and death reset once");
        c.close(); // returns: nothing left to wait for
        for (int i = 10; i < 60; i++) {
            assertNull(store.get(StoreColumn.SESSIONS, key(i)));
        }
    }

    @Test
    void completionsThatThrowAreCountedAndTheThreadGoesOn() throws Exception {
        try (Committer c = new Committer(store, observer, lock, fault)) {
            synchronized (lock) {
                c.put(StoreColumn.SESSIONS, key(1), new byte[]{1});
                c.onDurable(throwing(new IllegalArgumentException("completion bug")));
                c.onDurable(throwing(new StackOverflowError("completion error")));
            }
            CompletableFuture<Void> after = put(c, 2);
            assertNull(failure(after), "later completions still run");
            assertNull(failure(put(c, 3)), "and later commits too");
            assertEquals(2, completionErrors.get());
            assertFalse(c.isFailed());
        }
    }

    @Test
    void aFailedCompletionThatThrowsIsCountedToo() throws Exception {
        try (Committer c = new Committer(store, observer, lock, fault)) {
            fault.arm(When.BEFORE_WRITE, () -> new RuntimeException("injected"));
            synchronized (lock) {
                c.put(StoreColumn.SESSIONS, key(1), new byte[]{1});
                c.onDurable(throwing(new IllegalStateException("failed() bug")));
            }
            CompletableFuture<Void> later = put(c, 2);
            assertInstanceOf(StoreWriteException.class, failure(later));
            assertEquals(1, completionErrors.get());
        }
    }

    @Test
    void closedCommitterFailsNewCompletionsAtOnce() throws Exception {
        Committer c = new Committer(store, observer, lock, fault);
        c.close();
        assertThrows(StoreWriteException.class, () -> {
            Throwable t = failure(put(c, 1));
            if (t instanceof StoreWriteException s) {
                throw s;
            }
        });
    }

    private static Committer.Completion throwing(Throwable t) {
        return new Committer.Completion() {
            @Override
            public void durable() {
                throwIt();
            }

            @Override
            public void failed(Throwable cause) {
                throwIt();
            }

            private void throwIt() {
                if (t instanceof RuntimeException r) {
                    throw r;
                }
                throw (Error) t;
            }
        };
    }
}
