package io.durablemq.engine.guard;

import com.sun.management.GarbageCollectionNotificationInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.management.ListenerNotFoundException;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * Heap pressure as the garbage collector sees it: after every collection the JVM reports each
 * pool's usage, and the heap still in use then over the maximum heap is the figure (the usage
 * just before a collection includes garbage and says nothing, hence "after").
 *
 * <p><b>Only a figure without old garbage refuses.</b> A young-only collection (G1's young and
 * mixed pauses: "end of minor GC") leaves the old generation as it was, garbage included, until a
 * concurrent cycle has marked it and mixed collections have evacuated it: its figure can be far
 * above the live data (seen: 57 % after a young pause, 14 % after a full collection). So a
 * young-only figure at or above the guard only makes the heap {@link State#SUSPECT}: publishes are
 * still taken, and the guard asks the JVM for a whole-heap collection ({@code System.gc()}, a
 * full collection with G1's default flags; at most one per {@link #REQUEST_INTERVAL_NANOS}). A
 * whole-heap figure ("end of major GC") decides at once; a young-only figure below the guard
 * clears the suspicion (nothing it counted can be live beyond it). Should no whole-heap figure come
 * (explicit collections disabled or made concurrent, {@code -XX:+DisableExplicitGC},
 * {@code -XX:+ExplicitGCInvokesConcurrent}), the heap staying at or above the guard for
 * {@link #CONFIRM_NANOS} refuses: a real shortage is caught within that bound. Once refusing, a
 * figure {@link AdmissionSettings#HEAP_RESUME_MARGIN} below the guard (either kind: a figure with
 * garbage in it bounds the live data from above) resumes; while refusing with no whole-heap figure
 * for 30 s (an idle broker, or young collections that never reach the old garbage) it asks for one.
 *
 * <p>Every transition is in {@link #next}; readings arrive on the JVM's notification thread, ticks
 * on the engine's sampler (once a second), and both take this object's lock. The collection a
 * state asks for runs on the ticking thread, outside the lock.
 */
public final class HeapGuard implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HeapGuard.class);
    /** How long a young-only figure at or above the guard may wait for a whole-heap one before it refuses by itself. */
    static final long CONFIRM_NANOS = 10_000_000_000L;
    /** At most one requested collection per this interval (a full collection pauses the broker). */
    static final long REQUEST_INTERVAL_NANOS = 30_000_000_000L;
    /** While refusing with no whole-heap figure for this long, a collection is asked for. */
    static final long STALE_NANOS = 30_000_000_000L;

    /** What the guard does; every transition is in {@link #next}. */
    public enum State {
        /** New QoS 1/2 publishes are taken. */
        ACCEPTING,
        /**
         * Still taking them: a young-only collection left the heap at or above the guard, which
         * old garbage it did not reach may account for; a whole-heap figure or the confirmation
         * window decides.
         */
        SUSPECT,
        /** New QoS 1/2 publishes are refused. */
        REFUSING
    }

    /** How much of the heap the collection behind a reading reached. */
    public enum Reach {
        /** A young or mixed collection: the old generation's garbage not collected yet counts as in use. */
        YOUNG_ONLY,
        /** A collection of the whole heap (a full collection): what is left is live. */
        WHOLE_HEAP
    }

    /** One collection's result: the heap in use after it over the maximum heap. */
    record Reading(double ratio, Reach reach) {
    }

    private final double refuseAt;
    private final double resumeBelow;
    private final long maxHeap;
    private final LongSupplier clock;
    private final Runnable requestCollection;
    private final Set<String> heapPools = new HashSet<>();
    private final List<Runnable> unregister = new ArrayList<>();
    private volatile State state = State.ACCEPTING;
    private volatile double lastRatio = Double.NaN;
    /** When the current suspicion began (valid in SUSPECT). Guarded by this. */
    private long suspectSince;
    /** The last whole-heap reading's time, or the guard's start. Guarded by this. */
    private long lastWholeHeapNanos;
    /** The last requested collection's time. Guarded by this. */
    private long lastRequestNanos;

    private HeapGuard(double refuseAt, long maxHeap, LongSupplier clock, Runnable requestCollection) {
        this.refuseAt = refuseAt;
        this.resumeBelow = Math.max(0, refuseAt - AdmissionSettings.HEAP_RESUME_MARGIN);
        this.maxHeap = maxHeap;
        this.clock = clock;
        this.requestCollection = requestCollection;
        long now = clock.getAsLong();
        this.lastWholeHeapNanos = now;
        this.lastRequestNanos = now - REQUEST_INTERVAL_NANOS; // the first request is never held back
    }

    /** A guard fed by this JVM's garbage collection notifications; it asks for collections with {@code System.gc()}. */
    public static HeapGuard start(double refuseAt) {
        HeapGuard g = new HeapGuard(refuseAt, Runtime.getRuntime().maxMemory(), System::nanoTime, System::gc);
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                g.heapPools.add(pool.getName());
            }
        }
        NotificationListener listener = (n, handback) -> g.onNotification(n);
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof NotificationEmitter emitter) {
                emitter.addNotificationListener(listener, null, null);
                g.unregister.add(() -> {
                    try {
                        emitter.removeNotificationListener(listener);
                    } catch (ListenerNotFoundException ignored) {
                        // already gone
                    }
                });
            }
        }
        return g;
    }

    /**
     * A guard fed only through {@link #afterCollection} and {@link #tick} (tests of the state
     * machine), on {@code clock} (nanoseconds), telling {@code requestCollection} when it asks for one.
     */
    static HeapGuard manual(double refuseAt, LongSupplier clock, Runnable requestCollection) {
        return new HeapGuard(refuseAt, 1, clock, requestCollection);
    }

    /** A manual guard on the real clock that asks for nothing. */
    static HeapGuard manual(double refuseAt) {
        return manual(refuseAt, System::nanoTime, () -> {
        });
    }

    private void onNotification(Notification n) {
        if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
            return;
        }
        try {
            GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
            long used = 0;
            for (Map.Entry<String, MemoryUsage> e : info.getGcInfo().getMemoryUsageAfterGc().entrySet()) {
                if (heapPools.contains(e.getKey())) {
                    used += e.getValue().getUsed();
                }
            }
            afterCollection((double) used / maxHeap, reachOf(info.getGcAction()));
        } catch (RuntimeException e) {
            log.error("cannot read a garbage collection notification", e);
        }
    }

    /**
     * "end of major GC" is a collection of the whole heap (G1's, Parallel's and Serial's full
     * collections); anything else (G1's young and mixed pauses, and collectors that report
     * otherwise) is taken as young-only, so it never refuses without confirmation.
     */
    static Reach reachOf(String gcAction) {
        return "end of major GC".equals(gcAction) ? Reach.WHOLE_HEAP : Reach.YOUNG_ONLY;
    }

    /** One collection's result: the heap in use after it over the maximum heap, and how much of the heap it reached. */
    synchronized void afterCollection(double ratio, Reach reach) {
        long now = clock.getAsLong();
        if (reach == Reach.WHOLE_HEAP) {
            lastWholeHeapNanos = now;
        }
        moveTo(next(state, new Reading(ratio, reach), now), ratio, reach, now);
        lastRatio = ratio; // after the state: whoever sees the figure sees the state it led to
    }

    /**
     * Periodic (the engine's sampler, once a second): ends a suspicion whose confirmation window
     * passed, and asks for a whole-heap collection when the state wants one (see the class comment).
     */
    public void tick() {
        boolean request;
        State current;
        synchronized (this) {
            long t = clock.getAsLong();
            moveTo(next(state, null, t), lastRatio, Reach.YOUNG_ONLY, t);
            current = state;
            request = wantsCollection(t);
            if (request) {
                lastRequestNanos = t;
            }
        }
        if (request) {
            log.info("heap guard {}: heap after the last collection at {}% of the maximum (guard {}%); asking for a"
                    + " full collection to learn how much of it is live", current == State.SUSPECT ? "suspects pressure"
                    : "refusing", pct(lastRatio), pct(refuseAt));
            requestCollection.run();
        }
    }

    /**
     * The state machine: where {@code s} goes on reading {@code r}, or on a tick ({@code r} null)
     * at {@code now}. Only a whole-heap figure, or a young-only one still at or above the guard
     * after {@link #CONFIRM_NANOS}, refuses.
     */
    private State next(State s, Reading r, long now) {
        return switch (s) {
            case ACCEPTING -> {
                if (r == null || r.ratio() < refuseAt) {
                    yield State.ACCEPTING;
                }
                yield r.reach() == Reach.WHOLE_HEAP ? State.REFUSING : State.SUSPECT;
            }
            case SUSPECT -> {
                if (r != null && r.ratio() < refuseAt) {
                    yield State.ACCEPTING; // the garbage is gone, or the figure never was live data
                }
                if (r != null && r.reach() == Reach.WHOLE_HEAP) {
                    yield State.REFUSING; // confirmed: live data at or above the guard
                }
                yield now - suspectSince >= CONFIRM_NANOS ? State.REFUSING : State.SUSPECT;
            }
            case REFUSING -> r != null && r.ratio() < resumeBelow ? State.ACCEPTING : State.REFUSING;
        };
    }

    /** Whether the state wants a whole-heap figure now, and the last request is long enough ago. */
    private boolean wantsCollection(long now) {
        boolean wanted = switch (state) {
            case ACCEPTING -> false;
            case SUSPECT -> true;
            case REFUSING -> now - lastWholeHeapNanos >= STALE_NANOS;
        };
        return wanted && now - lastRequestNanos >= REQUEST_INTERVAL_NANOS;
    }

    /** Enters {@code to} (logging the changes an operator should see). Holds the lock. */
    private void moveTo(State to, double ratio, Reach reach, long now) {
        State from = state;
        if (to == from) {
            return;
        }
        if (to == State.SUSPECT) {
            suspectSince = now;
        } else if (to == State.REFUSING) {
            log.warn("heap after garbage collection at {}% of the maximum (guard {}%){}: refusing new QoS 1/2 publishes"
                    + " until it falls below {}%", pct(ratio), pct(refuseAt), reach == Reach.WHOLE_HEAP
                    ? ", after a full collection" : ", at or above the guard for " + CONFIRM_NANOS / 1_000_000_000L
                    + " s with no full collection to tell live data from old garbage", pct(resumeBelow));
        } else if (from == State.REFUSING) {
            log.warn("heap after garbage collection down to {}% of the maximum: accepting publishes again", pct(ratio));
        } else if (reach == Reach.WHOLE_HEAP) {
            log.info("heap after a full collection at {}% of the maximum, below the guard ({}%): the young collection's"
                    + " higher figure was garbage not collected yet; not refusing", pct(ratio), pct(refuseAt));
        }
        state = to;
    }

    private static long pct(double f) {
        return Math.round(f * 100);
    }

    public boolean isRefusing() {
        return state == State.REFUSING;
    }

    /** The guard's state (for tests and the log). */
    public State state() {
        return state;
    }

    /** The heap after the last collection (of any kind) over the maximum heap; NaN before the first. */
    public double lastRatio() {
        return lastRatio;
    }

    @Override
    public void close() {
        unregister.forEach(Runnable::run);
    }
}
