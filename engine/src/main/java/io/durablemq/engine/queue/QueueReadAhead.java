package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.QueueEntry;
import io.durablemq.engine.message.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.function.Function;

/**
 * Reads queue pages for delivery on its own thread ({@code durablemq-queue-reader}), outside the
 * engine's lock and off the caller's thread (often a Netty event loop): {@link #request} asks
 * the queue whether a page is due ({@link PagedQueue#pageToRead()}); the read holds the store
 * lock's read side (a reset or close cannot close the store under it), and for a session that
 * is sending ({@link Owner#wantsBodies}) so are the bodies the page references
 * ({@link PageBodyReader}: in message-id order, bounded by bytes), so its sends read nothing;
 * the page joins the head under the engine's lock, the owner keeps the bodies and pumps the
 * session. A stale answer is dropped (bodies too) and asked again from where the queue is now.
 *
 * <p>Delivery never reads a body on its own thread either: when it meets a head entry whose
 * body is not in memory (a head restored by recovery, a body evicted from the cache, a page
 * whose bodies passed the read's byte bound) it stops and calls {@link #requestBodies}; this
 * thread reads the bodies of the head's first entries and pumps the session with them.
 *
 * @param <S> the engine's session type
 */
public final class QueueReadAhead<S> implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QueueReadAhead.class);

    /** What the engine provides; every method is called under the engine's lock. */
    public interface Owner<S> {
        /** False once the engine closes or resets, or the session is discarded: the page is dropped. */
        boolean accepts(S session);

        /** Whether a page should bring its bodies along: the session is online and will send them soon. */
        boolean wantsBodies(S session);

        /** After a page joined the head or a body read: the bodies read (none of them in memory when read; null: not in the store). */
        void bodiesRead(S session, Map<Long, Message> bodies);

        /**
         * Delivers after a page joined the head or bodies were read, with {@code bodies} (as in
         * {@link #bodiesRead}) at hand even if the cache let them go again; returns what to run
         * outside the lock.
         */
        List<Runnable> pump(S session, Map<Long, Message> bodies);

        void internalError(String where);
    }

    /** The lock of a session's partition, by client id: held to check the owner and to apply a read. */
    private final Function<String, Lock> lockOf;
    private final ReadWriteLock storeLock;
    private final QueuePageReader reader;
    private final PageBodyReader bodyReader;
    private final Owner<S> owner;
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "durablemq-queue-reader");
        t.setDaemon(true);
        return t;
    });

    public QueueReadAhead(Function<String, Lock> lockOf, ReadWriteLock storeLock, QueuePageReader reader, PageBodyReader bodyReader,
                          Owner<S> owner) {
        this.lockOf = lockOf;
        this.storeLock = storeLock;
        this.reader = reader;
        this.bodyReader = bodyReader;
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
        Map<Long, Message> bodies;
        storeLock.readLock().lock();
        try {
            boolean withBodies;
            Lock lock = lockOf.apply(clientId);
            lock.lock();
            try {
                if (!owner.accepts(session)) {
                    return;
                }
                withBodies = owner.wantsBodies(session);
            } finally {
                lock.unlock();
            }
            page = reader.read(sessionKey, r.fromSeq(), r.beforeSeq(), r.count());
            bodies = withBodies ? readBodies(clientId, page) : null;
            if (bodies == null) {
                bodies = Map.of(); // not read (offline) or failed: a pump that meets them asks again
            }
        } catch (RuntimeException e) {
            log.error("reading the queue of '{}' from seq {} failed; retried at its next delivery", clientId, r.fromSeq(), e);
            Lock lock = lockOf.apply(clientId);
            lock.lock();
            try {
                owner.internalError("queue_read");
                queue.pageFailed(r);
            } finally {
                lock.unlock();
            }
            return;
        } finally {
            storeLock.readLock().unlock();
        }
        List<Runnable> immediate = new ArrayList<>();
        Lock lock = lockOf.apply(clientId);
        lock.lock();
        try {
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
            if (!bodies.isEmpty()) {
                owner.bodiesRead(session, bodies);
            }
            immediate.addAll(owner.pump(session, bodies));
        } finally {
            lock.unlock();
        }
        immediate.forEach(Runnable::run);
    }

    /**
     * Under the engine's lock: delivery met a head entry whose body is not in memory. Reads the
     * bodies of the head's first {@code max} entries on this thread (one request per queue at a
     * time; a second call while one is pending does nothing: its answer pumps the session).
     */
    public void requestBodies(S session, String clientId, PagedQueue queue, int max) {
        List<QueueEntry> entries = queue.headForBodyRead(max);
        if (entries == null) {
            return;
        }
        try {
            thread.execute(() -> readHeadBodies(session, clientId, queue, entries));
        } catch (RejectedExecutionException closing) {
            queue.bodyReadAnswered();
        }
    }

    private void readHeadBodies(S session, String clientId, PagedQueue queue, List<QueueEntry> entries) {
        Map<Long, Message> bodies;
        storeLock.readLock().lock();
        try {
            Lock lock = lockOf.apply(clientId);
            lock.lock();
            try {
                if (!owner.accepts(session)) {
                    queue.bodyReadAnswered();
                    return;
                }
            } finally {
                lock.unlock();
            }
            bodies = readBodies(clientId, entries);
        } finally {
            storeLock.readLock().unlock();
        }
        if (bodies == null) {
            // The read failed (logged): let these entries' sends read their own bodies, as before,
            // rather than asking again and again.
            bodies = new java.util.HashMap<>();
            for (QueueEntry e : entries) {
                bodies.put(e.messageId(), null);
            }
        }
        List<Runnable> immediate = new ArrayList<>();
        Lock lock = lockOf.apply(clientId);
        lock.lock();
        try {
            queue.bodyReadAnswered();
            if (!owner.accepts(session)) {
                return;
            }
            owner.bodiesRead(session, bodies);
            immediate.addAll(owner.pump(session, bodies));
        } finally {
            lock.unlock();
        }
        immediate.forEach(Runnable::run);
    }

    /**
     * Under the engine's lock: the bodies of an in-flight window that a reconnected session must
     * be sent again ({@code messageIds}, those not in memory), read on this thread in one sorted
     * {@code MultiGet}; then {@code then} runs under the lock with them at hand (a failed read:
     * every id mapped to {@code null}, so each resend reads its own body, as before) and what it
     * returns runs outside the lock. Not called back if the session is gone meanwhile.
     */
    public void requestResendBodies(S session, String clientId, Collection<Long> messageIds,
                                    Function<Map<Long, Message>, List<Runnable>> then) {
        List<Long> ids = List.copyOf(messageIds);
        try {
            thread.execute(() -> readResendBodies(session, clientId, ids, then));
        } catch (RejectedExecutionException closing) {
            // the engine is closing: nothing will be sent on this connection
        }
    }

    private void readResendBodies(S session, String clientId, List<Long> ids,
                                  Function<Map<Long, Message>, List<Runnable>> then) {
        Map<Long, Message> bodies;
        storeLock.readLock().lock();
        try {
            Lock lock = lockOf.apply(clientId);
            lock.lock();
            try {
                if (!owner.accepts(session)) {
                    return;
                }
            } finally {
                lock.unlock();
            }
            bodies = bodyReader.readIds(ids);
        } catch (RuntimeException e) {
            log.warn("reading the bodies of the in-flight window of '{}' failed; each is read at its resend", clientId, e);
            bodies = new HashMap<>();
            for (Long id : ids) {
                bodies.put(id, null);
            }
        } finally {
            storeLock.readLock().unlock();
        }
        List<Runnable> immediate = new ArrayList<>();
        Lock lock = lockOf.apply(clientId);
        lock.lock();
        try {
            if (!owner.accepts(session)) {
                return;
            }
            owner.bodiesRead(session, bodies);
            immediate.addAll(then.apply(bodies));
        } finally {
            lock.unlock();
        }
        immediate.forEach(Runnable::run);
    }

    /** Null if the read failed (logged): then each send reads its own body, as before. */
    private Map<Long, Message> readBodies(String clientId, List<QueueEntry> entries) {
        try {
            return bodyReader.read(entries);
        } catch (RuntimeException e) {
            log.warn("reading ahead the bodies of queued messages of '{}' failed; each is read at its send", clientId, e);
            return null;
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
