package io.durablemq.engine.check;

import io.durablemq.engine.store.StoreColumn;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code durablemq verify} found. The store is healthy ({@link #ok()}) only if it opened,
 * its format is one this build reads, every block's checksum held, every column family read
 * to its end, and no invariant broke.
 *
 * @param openError      why the store could not be opened read-only, or null
 * @param walDamage      damage in the WAL files with valid writes after it, which the broker's open
 *                       refuses ({@code store.WalPreCheck}) even where RocksDB would open without an error; or null
 * @param formatVersion  the stored format version, -1 if missing
 * @param checksumError  RocksDB's message from verifyChecksum, or null if every block checked out
 * @param records        records per column family, as far as each could be read
 */
public record VerifyReport(Path dir, String openError, String walDamage, int formatVersion, int supportedFormat, String checksumError,
                           List<ReadError> readErrors, Map<StoreColumn, Long> records, Inventory inventory,
                           Violations violations, Duration duration) {

    public boolean ok() {
        return openError == null && walDamage == null && formatOk() && checksumError == null && readErrors.isEmpty() && violations.isEmpty();
    }

    private boolean formatOk() {
        return formatVersion >= 1 && formatVersion <= supportedFormat;
    }

    /** The problems, one line each; empty when the store is healthy. */
    public List<String> problems() {
        List<String> p = new ArrayList<>();
        if (openError != null) {
            p.add("cannot open the store: " + openError);
            return p;
        }
        if (walDamage != null) {
            p.add("WAL: " + walDamage);
        }
        if (!formatOk()) {
            p.add(formatVersion < 0 ? "the format version record is missing"
                    : "store format " + formatVersion + ", this build reads format " + supportedFormat + " or older");
        }
        if (checksumError != null) {
            p.add("block checksums: " + checksumError);
        }
        for (ReadError e : readErrors) {
            p.add(e.describe());
        }
        if (!violations.isEmpty()) {
            p.add("broken invariants: " + violations.summary());
            for (Violation v : violations.examples()) {
                p.add("  " + v);
            }
        }
        return p;
    }

    public String toText() {
        StringBuilder b = new StringBuilder();
        b.append("store ").append(dir.toAbsolutePath()).append(": ").append(ok() ? "OK" : "DAMAGED").append('\n');
        if (openError == null) {
            b.append("format version ").append(formatVersion).append(" (this build reads up to ").append(supportedFormat).append(")\n");
            b.append("block checksums: ").append(checksumError == null ? "all verified" : "FAILED").append('\n');
            b.append("records per column family").append(readErrors.isEmpty() ? "" : " (as far as readable)").append(":\n");
            records.forEach((c, n) -> b.append(String.format("  %-14s %,d%n", c.cfName(), n)));
            b.append(String.format("sessions %,d, subscriptions %,d, queued %,d, in-flight %,d, QoS 2 receive records %,d, "
                            + "bodies %,d, retained %,d, wills %,d%n", inventory.sessions(), inventory.subscriptions(), inventory.queued(),
                    inventory.inflight(), inventory.qos2Received(), inventory.bodies(), inventory.retained(), inventory.wills()));
            b.append("invariants: ").append(readErrors.isEmpty()
                    ? (violations.isEmpty() ? "all hold" : violations.total() + " broken")
                    : "not checked (a column family could not be read to its end)").append('\n');
        }
        List<String> problems = problems();
        if (!problems.isEmpty()) {
            b.append("problems:\n");
            problems.forEach(p -> b.append("  ").append(p).append('\n'));
            b.append("run `durablemq repair ").append(dir.toAbsolutePath()).append("` to recover what can be read\n");
        }
        b.append(String.format("checked in %.2f s%n", duration.toNanos() / 1e9));
        return b.toString();
    }

    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dir", dir.toAbsolutePath().toString());
        m.put("ok", ok());
        m.put("openError", openError);
        m.put("walDamage", walDamage);
        m.put("formatVersion", formatVersion);
        m.put("supportedFormat", supportedFormat);
        m.put("checksumError", checksumError);
        List<Object> errors = new ArrayList<>();
        for (ReadError e : readErrors) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("columnFamily", e.column().cfName());
            x.put("file", e.file());
            x.put("message", e.message());
            x.put("lastReadableKey", e.after());
            errors.add(x);
        }
        m.put("readErrors", errors);
        Map<String, Object> rec = new LinkedHashMap<>();
        records.forEach((c, n) -> rec.put(c.cfName(), n));
        m.put("records", rec);
        Map<String, Object> inv = new LinkedHashMap<>();
        inv.put("sessions", inventory.sessions());
        inv.put("subscriptions", inventory.subscriptions());
        inv.put("queued", inventory.queued());
        inv.put("inflight", inventory.inflight());
        inv.put("qos2Received", inventory.qos2Received());
        inv.put("bodies", inventory.bodies());
        inv.put("retained", inventory.retained());
        inv.put("wills", inventory.wills());
        m.put("totals", inv);
        Map<String, Object> viol = new LinkedHashMap<>();
        violations.counts().forEach((k, n) -> viol.put(k.name(), n));
        m.put("violations", viol);
        m.put("violationExamples", violations.examples().stream().map(Violation::toString).toList());
        m.put("problems", problems());
        m.put("seconds", duration.toNanos() / 1e9);
        return Json.write(m);
    }
}
