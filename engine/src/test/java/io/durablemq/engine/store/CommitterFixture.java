package io.durablemq.engine.store;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * What a committer test runs the committer on: a real store in a fresh temporary folder, the lock its
 * appenders hold, and an observer that records what the committer tells its owner (failed commits,
 * completions that threw, each committed batch's write count). Register it with
 * {@code @RegisterExtension final CommitterFixture fx = new CommitterFixture();}: the store opens before
 * each test and is closed and deleted after it. Public for the engine's narrow-lock tests
 * (issue 12, target 4, step 3), which run operations on a committer in other packages. A test makes its committers with {@link #committer}
 * and closes them itself (some tests check what closing does).
 */
public final class CommitterFixture implements BeforeEachCallback, AfterEachCallback {
    /** How long a test waits for a completion before it counts as hanging. */
    public static final long WAIT_SECONDS = 10;

    final Object lock = new Object();
    public final AtomicInteger commitFailures = new AtomicInteger();
    final AtomicInteger completionErrors = new AtomicInteger();
    /** Durable batches whose completions ran on the writer, and on the completion thread, as the observer was told. */
    final AtomicInteger runByWriter = new AtomicInteger();
    final AtomicInteger runByCompletionThread = new AtomicInteger();
    /** Writes per committed batch, in commit order: what RocksDB was given. */
    final List<Integer> batchWrites = new CopyOnWriteArrayList<>();
    final Committer.Observer observer = new Committer.Observer() {
        @Override
        public void committed(int writes, int completions, long nanos) {
            batchWrites.add(writes);
        }

        @Override
        public void commitFailed(StoreWriteException cause) {
            commitFailures.incrementAndGet();
        }

        @Override
        public void completionThrew(Throwable error) {
            completionErrors.incrementAndGet();
        }

        @Override
        public void completionsRunBy(boolean onWriter) {
            (onWriter ? runByWriter : runByCompletionThread).incrementAndGet();
        }
    };
    public Store store;
    private Path dir;

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        dir = Files.createTempDirectory("durablemq-committer-");
        store = Store.open(dir.resolve("store"), Durability.OS);
    }

    @Override
    public void afterEach(ExtensionContext context) throws IOException {
        store.close();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** A committer on the store, writing locally, with the default pipeline depth. */
    public Committer committer(CommitFaults faults) {
        return new Committer(store, observer, lock, faults);
    }

    public Committer committer(CommitFaults faults, BatchLog batchLog, int batchesInFlight) {
        return new Committer(store, observer, lock, faults, batchLog, batchesInFlight);
    }

    static byte[] key(int i) {
        return ("k" + i).getBytes(StandardCharsets.UTF_8);
    }

    /** Appends a put of {@code key(i)} = {@code {i}} and a completion for it; the future says what the committer told it. */
    CompletableFuture<Void> put(Committer c, int i) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (lock) {
            c.put(StoreColumn.SESSIONS, key(i), new byte[]{(byte) i});
            c.onDurable(completing(f));
        }
        return f;
    }

    /** A completion that completes {@code f} when its batch is durable, or fails it with the batch's error. */
    public static Committer.Completion completing(CompletableFuture<Void> f) {
        return new Committer.Completion() {
            @Override
            public void durable() {
                f.complete(null);
            }

            @Override
            public void failed(Throwable cause) {
                f.completeExceptionally(cause);
            }
        };
    }

    /** What {@code f} failed with, or null if it completed; bounded: a hanging future fails the test here. */
    static Throwable failure(CompletableFuture<?> f) throws Exception {
        try {
            f.get(WAIT_SECONDS, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }

    /** Appends {@code n} completions that do nothing: a batch larger than a small one is handed over (CommitWriter). */
    static void emptyCompletions(Committer c, int n) {
        for (int i = 0; i < n; i++) {
            c.onDurable(new Committer.Completion() {
                @Override
                public void durable() {
                }

                @Override
                public void failed(Throwable cause) {
                }
            });
        }
    }
}
