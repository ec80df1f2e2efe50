package io.durablemq.engine.delivery;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One session's outgoing callbacks, run in the order they were added, by one thread at a time,
 * outside the engine's lock. Sends are added under the lock (so in routing order) and drained
 * by whichever thread added them once it has left the lock, or by the committer for sends that
 * waited for a commit; a thread that finds another one draining leaves its tasks to it.
 */
public final class Outbox {
    private static final Logger log = LoggerFactory.getLogger(Outbox.class);

    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicInteger pending = new AtomicInteger();

    public void add(Runnable task) {
        tasks.add(task);
    }

    public void drain() {
        if (pending.getAndIncrement() != 0) {
            return; // the thread draining now will see our tasks
        }
        int missed = 1;
        do {
            Runnable task;
            while ((task = tasks.poll()) != null) {
                try {
                    task.run();
                } catch (Throwable e) {
                    // Even an Error: left uncaught it would leave `pending` raised and stop this session's sends for good.
                    log.error("a session callback threw", e);
                }
            }
            missed = pending.addAndGet(-missed);
        } while (missed != 0);
    }
}
