package io.durablemq.engine.queue;

import io.durablemq.engine.store.Committer;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.Lock;

/**
 * Queues whose entries went only to the open batch (their head was full), with the last such
 * sequence number: once that batch is written, page reads may find those entries in the store
 * ({@link PagedQueue#written(long)}). Collected during an operation and handed to the committer
 * as one completion at its end. Guarded by its partition's lock (one per engine partition).
 */
public final class UnwrittenMarks {
    private final Lock lock;
    private final Map<PagedQueue, Long> marks = new HashMap<>();

    public UnwrittenMarks(Lock lock) {
        this.lock = lock;
    }

    public void mark(PagedQueue queue, long seq) {
        marks.put(queue, seq);
    }

    public void forget(PagedQueue queue) {
        marks.remove(queue);
    }

    public void clear() {
        marks.clear();
    }

    /** One completion on the open batch tells each marked queue that its entries are written. */
    public void registerOn(Committer committer) {
        if (marks.isEmpty()) {
            return;
        }
        Map<PagedQueue, Long> written = new HashMap<>(marks);
        marks.clear();
        committer.onDurable(new Committer.Completion() {
            @Override
            public void durable() {
                lock.lock(); // on the completion thread, holding nothing: the queues' partition
                try {
                    written.forEach(PagedQueue::written);
                } finally {
                    lock.unlock();
                }
            }

            @Override
            public void failed(Throwable cause) {
                // The engine resets and rebuilds every queue from the store.
            }
        });
    }
}
