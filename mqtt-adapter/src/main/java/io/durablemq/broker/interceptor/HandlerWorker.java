package io.durablemq.broker.interceptor;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.moquette.interception.InterceptHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/** One interceptor's ordered queue and thread: the isolation boundary between a plugin and the broker. */
final class HandlerWorker {

    private static final Logger LOG = LoggerFactory.getLogger(HandlerWorker.class);

    private record Task(Consumer<InterceptHandler> call, long bytes) { }

    private static final Task STOP = new Task(h -> { }, 0);

    private final InterceptHandler handler;
    private final String id;
    private final Set<Class<?>> types;
    private final BlockingQueue<Task> queue;
    private final long maxBytes;
    private final AtomicLong queuedBytes = new AtomicLong();
    private final Counter dropped;
    private final Counter errors;
    private final Thread thread;
    private final AtomicLong droppedInStreak = new AtomicLong();
    private volatile boolean accepting = true;
    private long errorCount;

    HandlerWorker(InterceptHandler handler, MeterRegistry registry, int maxEvents, long maxBytes) {
        this.handler = handler;
        this.id = idOf(handler);
        Class<?>[] wanted = handler.getInterceptedMessageTypes();
        this.types = Set.copyOf(Arrays.asList(wanted == null ? InterceptHandler.ALL_MESSAGE_TYPES : wanted));
        this.queue = new ArrayBlockingQueue<>(maxEvents);
        this.maxBytes = maxBytes;
        this.dropped = Counter.builder("durablemq.interceptor.dropped")
                .description("events not delivered to an interceptor because its queue was full")
                .tag("handler", id).register(registry);
        this.errors = Counter.builder("durablemq.interceptor.errors")
                .description("events an interceptor threw on").tag("handler", id).register(registry);
        this.thread = new Thread(this::loop, "durablemq-interceptor-" + id);
        thread.setDaemon(true);
    }

    private static String idOf(InterceptHandler handler) {
        try {
            String id = handler.getID();
            if (id != null && !id.isBlank()) {
                return id;
            }
        } catch (RuntimeException e) {
            LOG.warn("interceptor {}: getID() threw, using its class name", handler.getClass().getName(), e);
        }
        return handler.getClass().getName();
    }

    void start() {
        thread.start();
    }

    String id() {
        return id;
    }

    boolean wants(Class<?> type) {
        return types.contains(type);
    }

    void offer(Consumer<InterceptHandler> call, long bytes) {
        if (!accepting) {
            return;
        }
        if (queuedBytes.addAndGet(bytes) > maxBytes && bytes > 0) {
            queuedBytes.addAndGet(-bytes);
            drop();
            return;
        }
        if (!queue.offer(new Task(call, bytes))) {
            queuedBytes.addAndGet(-bytes);
            drop();
        }
    }

    private void drop() {
        dropped.increment();
        if (droppedInStreak.getAndIncrement() == 0) {
            LOG.warn("interceptor {} is too slow: its queue is full ({} events or {} payload bytes), events for it "
                    + "are dropped until it catches up (counted in durablemq_interceptor_dropped_total)",
                    id, queue.size(), queuedBytes.get());
        }
    }

    private void loop() {
        while (true) {
            Task task;
            try {
                task = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            if (task == STOP) {
                return;
            }
            queuedBytes.addAndGet(-task.bytes());
            long streak = droppedInStreak.get();
            if (streak > 0 && queue.isEmpty()) {
                droppedInStreak.addAndGet(-streak);
                LOG.warn("interceptor {} caught up after {} dropped event(s)", id, streak);
            }
            try {
                task.call().accept(handler);
            } catch (Throwable t) { // a plugin's failure, whatever it is, must not stop this worker
                errors.increment();
                errorCount++;
                if (errorCount <= 10 || errorCount % 1_000 == 0) {
                    LOG.error("interceptor {} threw (error #{}); the broker and other interceptors are unaffected",
                            id, errorCount, t);
                }
            }
        }
    }

    void stopAccepting() {
        accepting = false;
        // put() would block a full queue forever if the handler hangs; poll the slot instead.
        try {
            if (!queue.offer(STOP, 1, TimeUnit.SECONDS)) {
                thread.interrupt();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            thread.interrupt();
        }
    }

    void awaitStop(long millis) {
        try {
            thread.join(millis);
            if (thread.isAlive()) {
                LOG.warn("interceptor {} did not finish its queue within {} ms; abandoning {} event(s)",
                        id, millis, queue.size());
                thread.interrupt();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
