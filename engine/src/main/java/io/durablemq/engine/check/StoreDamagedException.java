package io.durablemq.engine.check;

import java.nio.file.Path;
import java.util.List;

/**
 * Recovery found the store damaged (a column family it cannot read, or broken invariants) and
 * refuses to build the engine from it. The message says what and where, and what to run.
 */
public final class StoreDamagedException extends RuntimeException {
    public StoreDamagedException(Path dir, List<ReadError> errors, Violations violations) {
        super(describe(dir, errors, violations));
    }

    private static String describe(Path dir, List<ReadError> errors, Violations violations) {
        StringBuilder b = new StringBuilder();
        for (ReadError e : BlobDamage.attribute(dir, errors)) { // names a damaged blob file (RocksDB does not)
            b.append(e.describe()).append("; ");
        }
        if (!violations.isEmpty()) {
            b.append("broken invariants: ").append(violations.summary());
            if (!violations.examples().isEmpty()) {
                b.append(" (first: ").append(violations.examples().get(0)).append(')');
            }
            b.append("; ");
        }
        String d = dir.toAbsolutePath().toString();
        b.append("nothing was changed; run `durablemq verify ").append(d).append("` for details, `durablemq repair ")
                .append(d).append("` to repair");
        return b.toString();
    }
}
