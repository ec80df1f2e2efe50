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

/**
 * Heap pressure as the garbage collector sees it: after every collection the JVM reports each
 * pool's usage, and the heap still in use then (live data plus what that collection did not
 * reach) over the maximum heap is the figure. At or above the guard's fraction the engine
 * refuses new QoS 1/2 publishes; it accepts again once a collection leaves the heap
 * {@link AdmissionSettings#HEAP_RESUME_MARGIN} below it. The usage just before a collection
 * says nothing (garbage included), hence "after". An idle broker may see no collection for a
 * long time: while refusing, {@link #probeIfStale} asks for one after 30 s without any.
 */
public final class HeapGuard implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HeapGuard.class);
    private static final long STALE_NANOS = 30_000_000_000L;

    private final double refuseAt;
    private final double resumeBelow;
    private final long maxHeap;
    private final Set<String> heapPools = new HashSet<>();
    private final List<Runnable> unregister = new ArrayList<>();
    private volatile boolean refusing;
    private volatile double lastRatio = Double.NaN;
    private volatile long lastGcNanos = System.nanoTime();

    private HeapGuard(double refuseAt, long maxHeap) {
        this.refuseAt = refuseAt;
        this.resumeBelow = Math.max(0, refuseAt - AdmissionSettings.HEAP_RESUME_MARGIN);
        this.maxHeap = maxHeap;
    }

    /** A guard fed by this JVM's garbage collection notifications. */
    public static HeapGuard start(double refuseAt) {
        HeapGuard g = new HeapGuard(refuseAt, Runtime.getRuntime().maxMemory());
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

    /** A guard fed only through {@link #afterCollection} (tests of the state machine). */
    static HeapGuard manual(double refuseAt) {
        return new HeapGuard(refuseAt, 1);
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
            afterCollection((double) used / maxHeap);
        } catch (RuntimeException e) {
            log.error("cannot read a garbage collection notification", e);
        }
    }

    /** One collection's result: the heap in use after it over the maximum heap. */
    void afterCollection(double ratio) {
        lastRatio = ratio;
        lastGcNanos = System.nanoTime();
        if (!refusing && ratio >= refuseAt) {
            refusing = true;
            log.warn("heap after garbage collection at {}% of the maximum (guard {}%): refusing new QoS 1/2 publishes"
                    + " until it falls below {}%", pct(ratio), pct(refuseAt), pct(resumeBelow));
        } else if (refusing && ratio < resumeBelow) {
            refusing = false;
            log.warn("heap after garbage collection down to {}% of the maximum: accepting publishes again", pct(ratio));
        }
    }

    /** While refusing with no collection for 30 s (an idle broker), asks for one to learn whether the heap is free again. */
    public void probeIfStale() {
        if (refusing && System.nanoTime() - lastGcNanos > STALE_NANOS) {
            lastGcNanos = System.nanoTime();
            System.gc();
        }
    }

    private static long pct(double f) {
        return Math.round(f * 100);
    }

    public boolean isRefusing() {
        return refusing;
    }

    /** The heap after the last collection over the maximum heap; NaN before the first. */
    public double lastRatio() {
        return lastRatio;
    }

    @Override
    public void close() {
        unregister.forEach(Runnable::run);
    }
}
