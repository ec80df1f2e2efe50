package io.durablemq.engine.guard;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * When the engine refuses new QoS 1/2 publishes for the whole broker (engine/README.md,
 * "Broker-wide budget and heap guard").
 *
 * @param maxTotalQueuedBytes queued bytes over all sessions (the {@code durablemq_queue_bytes} gauge) past which
 *                            new QoS 1/2 publishes are refused; {@link #AUTO} derives it from the data folder's
 *                            free disk at start, {@link #UNLIMITED} switches the budget off
 * @param heapGuardFraction   heap in use right after a garbage collection, as a fraction of the maximum heap, at
 *                            or above which new QoS 1/2 publishes are refused; {@link #HEAP_GUARD_OFF} (0) switches
 *                            the guard off
 */
public record AdmissionSettings(long maxTotalQueuedBytes, double heapGuardFraction) {
    private static final Logger log = LoggerFactory.getLogger(AdmissionSettings.class);

    /** Derive the budget from free disk: {@link #AUTO_DISK_FRACTION} of the data folder's usable space at start. */
    public static final long AUTO = -1;
    public static final long UNLIMITED = Long.MAX_VALUE;
    public static final double HEAP_GUARD_OFF = 0;
    /**
     * A quarter of the free space: the store holds each body once but a queue entry per session
     * (for tiny messages about twice the counted bytes on disk), and compaction needs room to
     * rewrite files; the rest of the disk is not the broker's alone.
     */
    public static final double AUTO_DISK_FRACTION = 0.25;
    /** Publishes are accepted again once the queued bytes fall to this fraction of the budget. */
    public static final double BUDGET_RESUME_FRACTION = 0.9;
    /** Publishes are accepted again once the heap after a collection falls this far below the guard's fraction. */
    public static final double HEAP_RESUME_MARGIN = 0.10;
    public static final double DEFAULT_HEAP_GUARD_FRACTION = 0.85;

    public AdmissionSettings {
        if (maxTotalQueuedBytes != AUTO && maxTotalQueuedBytes < 1) {
            throw new IllegalArgumentException("maxTotalQueuedBytes must be positive, AUTO (-1) or UNLIMITED: "
                    + maxTotalQueuedBytes + " (0 would refuse every QoS 1/2 publish; to switch the budget off use"
                    + " unlimited)");
        }
        if (!(heapGuardFraction == HEAP_GUARD_OFF || (heapGuardFraction > 0 && heapGuardFraction <= 1))) {
            throw new IllegalArgumentException("heapGuardFraction must be in (0, 1], or 0 for off: " + heapGuardFraction);
        }
    }

    /** The budget derived from free disk, and the heap guard at 0.85. */
    public static AdmissionSettings defaults() {
        return new AdmissionSettings(AUTO, DEFAULT_HEAP_GUARD_FRACTION);
    }

    /** Neither budget nor heap guard. */
    public static AdmissionSettings off() {
        return new AdmissionSettings(UNLIMITED, HEAP_GUARD_OFF);
    }

    /**
     * The budget in bytes ({@link #UNLIMITED} when off). {@link #AUTO} looks at the file system of
     * {@code dataPath} now: a file system that reports no size at all (some FUSE file systems
     * answer statfs with zeros) gets no budget, with a warning, rather than a budget of 0.
     */
    public long resolveBudget(Path dataPath) {
        if (maxTotalQueuedBytes != AUTO) {
            return maxTotalQueuedBytes;
        }
        try {
            Path existing = dataPath.toAbsolutePath();
            while (existing != null && !Files.exists(existing)) {
                existing = existing.getParent();
            }
            if (existing == null) {
                throw new IOException("no existing folder above " + dataPath);
            }
            FileStore fs = Files.getFileStore(existing);
            if (fs.getTotalSpace() <= 0) {
                log.warn("the file system of {} reports no size: no broker-wide queue budget (set max_total_queued_bytes)",
                        dataPath);
                return UNLIMITED;
            }
            long budget = (long) (fs.getUsableSpace() * AUTO_DISK_FRACTION);
            log.info("broker-wide queue budget: {} bytes, a quarter of the {} bytes free for {} at start"
                    + " (max_total_queued_bytes)", budget, fs.getUsableSpace(), dataPath);
            return Math.max(1, budget);
        } catch (IOException | RuntimeException e) {
            log.warn("cannot read the free space of {} ({}): no broker-wide queue budget (set max_total_queued_bytes)",
                    dataPath, e.toString());
            return UNLIMITED;
        }
    }
}
