package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.locks.ReadWriteLock;

/**
 * Reads queue pages for delivery on its own thread ({@code durablemq-queue-reader}), outside the
 * engine's lock and off the caller's thread (often a Netty event loop): {@link #request} asks
 * the queue whether a page is due ({@link PagedQueue#pageToRead()}); the read holds the store
 * lock's read side (a reset or close cannot close the store under it); the page joins the head
 * under the engine's lock and the owner pumps the session. A stale answer is dropped and asked
 * again from where the queue is now.
 *
 * @param <S> the engine's session type
 */
public final class QueueReadAhead<S> implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QueueReadAhead.class);

    /** What the engine provides; every method is called under the engine's lock. */
    public interface Owner<S> {
        /** False once the engine closes or resets, or the session is discarded: the page is dropped. */
        boolean accepts(S session);

        /** Delivers after a page joined the head; returns what to run outside the lock. */
        List<Runnable> pump(S session);

        void internalError(String where);
    }

    private final Object lock;
    private final ReadWriteLock storeLock;
    private final QueuePageReader reader;
    private final Owner<S> owner;
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "durablemq-queue-reader");
        t.setDaemon(true);
        return t;
    });

    public QueueReadAhead(Object lock, ReadWriteLock storeLock, QueuePageReader reader, Owner<S> owner) {
        this.lock = lock;
        this.storeLock = storeLock;
        this.reader = reader;
        this.owner = owner;
    }

    /** Under the engine's lock: starts a page read if the queue's head is low and entries wait on disk. */
    public void request(S session, String clientId, byte[] sessionKey, PagedQueue queue) {
        PagedQueue.PageRequest r = queue.pageToRead();
        if (r == null) {
            return;
        }
        try {
            thread.execute(() -> read(session, clientId, sessionKey, queue, r));
        } catch (RejectedExecutionException closing) {
            queue.pageFailed(r);
        }
    }

    private void read(S session, String clientId, byte[] sessionKey, PagedQueue queue, PagedQueue.PageRequest r) {
        List<QueueEntry> page;
        storeLock.readLock().lock();
        try {
            synchronized (lock) {
                if (!owner.accepts(session)) {
                    return;
                }
            }
            page = reader.read(sessionKey, r.fromSeq(), r.beforeSeq(), r.count());
        } catch (RuntimeException e) {
            log.error("reading the queue of '{}' from seq {} failed; retried at its next delivery", clientId, r.fromSeq(), e);
            synchronized (lock) {
                owner.internalError("queue_read");
                queue.pageFailed(r);
            }
            return;
        } finally {
            storeLock.readLock().unlock();
        }
        List<Runnable> immediate = new ArrayList<>();
        synchronized (lock) {
            if (!owner.accepts(session)) {
                return;
            }
            try {
                if (!queue.pageRead(r, page)) {
                    request(session, clientId, sessionKey, queue); // stale: ask again from where the queue is now
                    return;
                }
            } catch (IllegalStateException e) {
                log.error("queue of '{}' does not match its counters: not delivered further", clientId, e);
                owner.internalError("queue_read");
                return;
            }
            immediate.addAll(owner.pump(session));
        }
        immediate.forEach(Runnable::run);
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
