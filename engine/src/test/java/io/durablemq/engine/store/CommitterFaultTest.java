package io.durablemq.engine.store;

import io.durablemq.engine.support.InjectedCommitFault;
import io.durablemq.engine.support.InjectedCommitFault.When;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.store.CommitterFixture.failure;
import static io.durablemq.engine.store.CommitterFixture.key;
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
    @RegisterExtension
    final CommitterFixture fx = new CommitterFixture();
    final InjectedCommitFault fault = new InjectedCommitFault();

    @Test
    void runtimeExceptionBeforeTheWriteFailsTheBatchAndEveryLaterOneUntilReset() throws Exception {
        try (Committer c = fx.committer(fault)) {
            assertNull(failure(fx.put(c, 1)));
            fault.arm(When.BEFORE_WRITE, () -> new IllegalStateException("injected"));
            Throwable first = failure(fx.put(c, 2));
            assertInstanceOf(StoreWriteException.class, first);
            assertInstanceOf(IllegalStateException.class, first.getCause());
            assertTrue(c.isFailed());
            // Built on the failed state: fails too, without a write.
            assertInstanceOf(StoreWriteException.class, failure(fx.put(c, 3)));
            assertEquals(1, fx.commitFailures.get(), "the owner is told once");
            assertNull(fx.store.get(StoreColumn.SESSIONS, key(2)), "a fault before the write wrote nothing");
            assertNull(fx.store.get(StoreColumn.SESSIONS, key(3)));

            c.reset();
            assertFalse(c.isFailed());
            assertNull(failure(fx.put(c, 4)), "commits again after the reset");
            assertArrayEquals(new byte[]{4}, fx.store.get(StoreColumn.SESSIONS, key(4)));
        }
    }

    @Test
    void failureAfterTheWriteIsAnUnknownOutcomeTheStoreHoldsTheBatch() throws Exception {
        try (Committer c = fx.committer(fault)) {
            fault.arm(When.AFTER_WRITE, () -> new RuntimeException("injected after the write"));
            assertInstanceOf(StoreWriteException.class, failure(fx.put(c, 7)));
            assertArrayEquals(new byte[]{7}, fx.store.get(StoreColumn.SESSIONS, key(7)),
                    "the caller saw an error, yet the batch is in the store");
            assertTrue(c.isFailed());
        }
    }

    @Test
    void errorFromTheWriteKillsTheThreadYetNoFutureHangs() throws Exception {
        Committer c = fx.committer(fault);
        assertNull(failure(fx.put(c, 1)));
        fault.arm(When.BEFORE_WRITE, () -> new OutOfMemoryError("injected"));
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        for (int i = 10; i < 60; i++) {
            futures.add(fx.put(c, i)); // some in the failing batch, some queued behind it or after the death
        }
        for (CompletableFuture<Void> f : futures) {
            assertInstanceOf(StoreWriteException.class, failure(f));
        }
        assertTrue(c.isFailed());
        // Appended after the thread died: fails at once instead of waiting for a thread that is gone.
        assertInstanceOf(StoreWriteException.class, failure(fx.put(c, 99)));
        assertEquals(1, fx.commitFailures.get(), "write failure and death reset once");
        c.close(); // returns: nothing left to wait for
        for (int i = 10; i < 60; i++) {
            assertNull(fx.store.get(StoreColumn.SESSIONS, key(i)));
        }
    }

    @Test
    void completionsThatThrowAreCountedAndTheThreadGoesOn() throws Exception {
        try (Committer c = fx.committer(fault)) {
            synchronized (fx.lock) {
                c.put(StoreColumn.SESSIONS, key(1), new byte[]{1});
                c.onDurable(throwing(new IllegalArgumentException("completion bug")));
                c.onDurable(throwing(new StackOverflowError("completion error")));
            }
            CompletableFuture<Void> after = fx.put(c, 2);
            assertNull(failure(after), "later completions still run");
            assertNull(failure(fx.put(c, 3)), "and later commits too");
            assertEquals(2, fx.completionErrors.get());
            assertFalse(c.isFailed());
        }
    }

    @Test
    void aFailedCompletionThatThrowsIsCountedToo() throws Exception {
        try (Committer c = fx.committer(fault)) {
            fault.arm(When.BEFORE_WRITE, () -> new RuntimeException("injected"));
            synchronized (fx.lock) {
                c.put(StoreColumn.SESSIONS, key(1), new byte[]{1});
                c.onDurable(throwing(new IllegalStateException("failed() bug")));
            }
            CompletableFuture<Void> later = fx.put(c, 2);
            assertInstanceOf(StoreWriteException.class, failure(later));
            assertEquals(1, fx.completionErrors.get());
        }
    }

    @Test
    void closedCommitterFailsNewCompletionsAtOnce() throws Exception {
        Committer c = fx.committer(fault);
        c.close();
        assertThrows(StoreWriteException.class, () -> {
            Throwable t = failure(fx.put(c, 1));
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
