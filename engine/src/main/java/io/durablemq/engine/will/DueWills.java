package io.durablemq.engine.will;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The engine's in-memory image of the {@code wills} column family, by client id, guarded by
 * the engine's lock, with one timer per will that waits for its due time. Every change here is
 * mirrored in the store by the operation that makes it (connect, disconnect, firing). Wills
 * found by recovery are <em>held</em> until the broker calls {@code Engine.startWills}: a will
 * due at the restart is sent once its ACL can be asked, and its session is not discarded
 * before the will has been sent.
 */
public final class DueWills implements AutoCloseable {
    // Synchronized (a leaf lock): sessions of different engine partitions store and settle their wills at once.
    private record Entry(StoredWill will, ScheduledFuture<?> timer) {
    }

    private final Map<String, Entry> byClient = new HashMap<>();
    /** Cancelled timers leave the queue at once: a reconnect must not leave a task for days. */
    private final ScheduledThreadPoolExecutor timer;
    private boolean started;

    public DueWills() {
        timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "durablemq-wills");
            t.setDaemon(true);
            return t;
        });
        timer.setRemoveOnCancelPolicy(true);
    }

    public synchronized StoredWill get(String clientId) {
        Entry e = byClient.get(clientId);
        return e == null ? null : e.will;
    }

    /** Sets the client's will (no timer yet); a timer of the previous one is cancelled. */
    public synchronized void put(String clientId, StoredWill will) {
        cancel(byClient.put(clientId, new Entry(will, null)));
    }

    /**
     * Runs {@code fire} after {@code delayMillis} for the client's current will; the caller
     * checks under its lock that the will is still the one scheduled. False if the timer is closed.
     */
    public synchronized boolean schedule(String clientId, StoredWill will, long delayMillis, Runnable fire) {
        try {
            ScheduledFuture<?> f = timer.schedule(fire, delayMillis, TimeUnit.MILLISECONDS);
            cancel(byClient.put(clientId, new Entry(will, f)));
            return true;
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            return false;
        }
    }

    public synchronized StoredWill remove(String clientId) {
        Entry e = byClient.remove(clientId);
        cancel(e);
        return e == null ? null : e.will;
    }

    /** Forgets every will (the engine rebuilds them from the store); started stays as it was. */
    public synchronized void clear() {
        byClient.values().forEach(DueWills::cancel);
        byClient.clear();
    }

    public synchronized int size() {
        return byClient.size();
    }

    /** A copy, client id to will: callers fire wills while walking it. */
    public synchronized List<Map.Entry<String, StoredWill>> entries() {
        List<Map.Entry<String, StoredWill>> out = new ArrayList<>(byClient.size());
        byClient.forEach((c, e) -> out.add(Map.entry(c, e.will)));
        return out;
    }

    public synchronized void start() {
        started = true;
    }

    public synchronized boolean started() {
        return started;
    }

    /** True while the session's will waits for {@link #start()}: the session must not be discarded yet. */
    public synchronized boolean holds(String clientId) {
        return !started && byClient.containsKey(clientId);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }

    private static void cancel(Entry e) {
        if (e != null && e.timer != null) {
            e.timer.cancel(false);
        }
    }
}
