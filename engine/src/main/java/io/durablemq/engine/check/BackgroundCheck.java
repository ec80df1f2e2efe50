package io.durablemq.engine.check;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.durablemq.engine.store.StoreFormat;
import org.rocksdb.ReadOptions;
import org.rocksdb.Snapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.function.Supplier;

/**
 * The invariant check recovery no longer makes (it reads neither queue entries nor bodies),
 * run after the start on its own thread: every column family of a RocksDB snapshot (a
 * consistent batch boundary, never the live store) is scanned and checked like {@code durablemq
 * verify} does (orphan bodies, entries without bodies, stored reference counts and queue
 * counters against the entries, records of missing sessions, undecodable records, read errors
 * such as a damaged block). It only <em>reports</em>: an ERROR log line, the gauge
 * {@code durablemq_background_check_violations} (violations plus read errors; alert on it above 0)
 * and {@link #report()}. It never deletes or repairs: that is {@code durablemq repair}'s, offline.
 *
 * <p>Bounded heap: references are counted per window of {@code windowIds} message ids (one full
 * scan per window; about 16-32 bytes per id of the window), so the check costs
 * O(window) memory and O(entries x windows) time, in the background.
 */
public final class BackgroundCheck {
    private static final Logger log = LoggerFactory.getLogger(BackgroundCheck.class);
    /** Kinds a later window's pass reports; the others (per session) are reported by the first pass alone. */
    private static final Set<Violation.Kind> PER_ID = Set.of(Violation.Kind.ORPHAN_BODY, Violation.Kind.MISSING_BODY,
            Violation.Kind.REF_COUNT);
    public static final long DEFAULT_WINDOW_IDS = 1 << 20;

    public enum State { NOT_STARTED, RUNNING, PASSED, FOUND_PROBLEMS, CANCELLED, FAILED }

    /**
     * @param problems violations plus read errors (the gauge's value)
     * @param passes   full scans made (one per id window, plus the id-range scan)
     */
    public record Report(State state, long recordsChecked, List<ReadError> readErrors, Violations violations,
                         long storedBodies, int passes, Duration took, String failure) {
        public long problems() {
            return violations.total() + readErrors.size();
        }
    }

    private final long windowIds;
    private volatile Report report = new Report(State.NOT_STARTED, 0, List.of(), new Violations(), 0, 0, Duration.ZERO, null);
    private volatile boolean cancelled;
    private Thread thread;

    public BackgroundCheck(MeterRegistry meters, long windowIds) {
        this.windowIds = windowIds;
        Gauge.builder("durablemq.background.check.violations", this, c -> c.report.problems())
                .description("broken invariants and read errors the last background check of the store found (0 = none)")
                .register(meters);
    }

    public Report report() {
        return report;
    }

    /** Starts a check of {@code store}'s current snapshot on its own thread (a previous one is cancelled). */
    public synchronized void start(Supplier<Store> store, ReadWriteLock storeLock) {
        cancel();
        cancelled = false;
        report = new Report(State.RUNNING, 0, List.of(), new Violations(), 0, 0, Duration.ZERO, null);
        thread = new Thread(() -> run(store, storeLock), "durablemq-background-check");
        thread.setDaemon(true);
        thread.start();
    }

    /** Stops a running check at its next record and waits for it (before the store closes or is reopened). */
    public synchronized void cancel() {
        cancelled = true;
        Thread t = thread;
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        thread = null;
    }

    /** Waits for the running check (tests, the benchmark). */
    public Report await(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (report.state() == State.RUNNING && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return report;
    }

    private void run(Supplier<Store> storeSupplier, ReadWriteLock storeLock) {
        long t0 = System.nanoTime();
        storeLock.readLock().lock();
        try {
            Store store = storeSupplier.get();
            Snapshot snapshot = store.snapshot();
            try (ReadOptions point = new ReadOptions().setSnapshot(snapshot).setVerifyChecksums(true)) {
                report = check(store, snapshot, point, t0);
            } finally {
                store.release(snapshot);
            }
        } catch (CancellationException e) {
            report = new Report(State.CANCELLED, 0, List.of(), new Violations(), 0, 0, took(t0), null);
            return;
        } catch (RuntimeException e) {
            report = new Report(State.FAILED, 0, List.of(), new Violations(), 0, 0, took(t0), e.toString());
            log.error("the background check of the store failed: {}", e.toString(), e);
            return;
        } finally {
            storeLock.readLock().unlock();
        }
        Report r = report;
        if (r.state() == State.FOUND_PROBLEMS) {
            log.error("the background check of the store found {} problem(s) (nothing was changed; run `durablemq verify`"
                            + " on a copy or a stopped broker, `durablemq repair` to repair): {}{}", r.problems(),
                    r.violations().summary(), r.readErrors().isEmpty() ? "" : "; read errors: " + r.readErrors());
            for (Violation v : r.violations().examples()) {
                log.error("  {}", v);
            }
        } else {
            log.info("background check of the store passed: {} records in {} pass(es), {} ms", r.recordsChecked(),
                    r.passes(), r.took().toMillis());
        }
    }

    private Report check(Store store, Snapshot snapshot, ReadOptions point, long t0) {
        ColumnSource source = (c, o) -> store.iterator(c, o.setSnapshot(snapshot));
        IdRange range = new IdRange();
        StoreScan.Result ranged = new StoreScan(source, StoreScan.OnError.STOP_COLUMN, false,
                List.of(StoreColumn.QUEUES, StoreColumn.INFLIGHT, StoreColumn.MESSAGES)).run(range);
        long records = ranged.totalRecords();
        if (!ranged.errors().isEmpty()) {
            return new Report(State.FOUND_PROBLEMS, records, BlobDamage.attribute(store.dir(), ranged.errors()), new Violations(), range.bodies, 1, took(t0), null);
        }
        Violations all = new Violations();
        int passes = 1;
        long from = range.min == Long.MAX_VALUE ? Long.MIN_VALUE : range.min;
        long end = range.max == Long.MIN_VALUE ? Long.MAX_VALUE : range.max + 1;
        while (true) {
            long to = end == Long.MAX_VALUE || end - from <= windowIds ? end : from + windowIds;
            InvariantCheck check = InvariantCheck.forIdWindow(from, to);
            StoreScan.Result scan = new StoreScan(source, StoreScan.OnError.STOP_COLUMN, false)
                    .run(StoreRecordVisitor.all(new IdRange(), check)); // IdRange: only to stop when cancelled
            records += scan.totalRecords();
            passes++;
            if (!scan.errors().isEmpty()) {
                return new Report(State.FOUND_PROBLEMS, records, BlobDamage.attribute(store.dir(), scan.errors()), all, range.bodies, passes, took(t0), null);
            }
            boolean first = passes == 2;
            all.addAll(check.finish(id -> store.get(StoreColumn.MESSAGES, Keys.message(id), point) != null),
                    k -> first || PER_ID.contains(k));
            if (to >= end) {
                break;
            }
            from = to;
        }
        byte[] stored = store.get(StoreColumn.META, StoreFormat.STORED_BODIES_KEY, point);
        if (stored != null && (stored.length != 8 || ByteBuffer.wrap(stored).getLong() != range.bodies)) {
            all.add(new Violation(Violation.Kind.REF_COUNT, StoreColumn.META, null, "the stored body count is "
                    + (stored.length == 8 ? ByteBuffer.wrap(stored).getLong() : "undecodable") + ", messages holds "
                    + range.bodies));
        }
        return new Report(all.isEmpty() ? State.PASSED : State.FOUND_PROBLEMS, records, List.of(), all, range.bodies,
                passes, took(t0), null);
    }

    private static Duration took(long t0) {
        return Duration.ofNanos(System.nanoTime() - t0);
    }

    /** The range of message ids entries reference and bodies have, and the number of bodies; no map. */
    private final class IdRange implements StoreRecordVisitor {
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        long bodies;

        private void see(long id) {
            if (cancelled) {
                throw new CancellationException();
            }
            if (id > 0) {
                min = Math.min(min, id);
                max = Math.max(max, id);
            }
        }

        @Override
        public void queueEntry(String clientId, io.durablemq.engine.delivery.QueueEntry e, byte[] key, byte[] value) {
            see(e.messageId());
        }

        @Override
        public void inflight(String clientId, io.durablemq.engine.delivery.InflightEntry e, byte[] key, byte[] value) {
            see(e.messageId());
        }

        @Override
        public void body(long messageId, byte[] key, byte[] value) {
            see(messageId);
            bodies++;
        }

        @Override
        public void session(String clientId, io.durablemq.engine.session.SessionRecord r, byte[] key, byte[] value) {
            see(0);
        }
    }
}
