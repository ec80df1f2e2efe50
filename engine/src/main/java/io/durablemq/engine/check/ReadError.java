package io.durablemq.engine.check;

import io.durablemq.engine.store.StoreColumn;

/**
 * A column family could not be read to its end: RocksDB reported an error (a block checksum
 * mismatch, an I/O error) while iterating it.
 *
 * @param file      the file RocksDB named in its message, or null if it named none
 * @param after     the last key read before the error (described), or null if none was
 * @param resumedAt when the scan skipped the damaged range: the first key read after it, or
 *                  "end" if nothing after it could be read; null when the scan stopped there
 * @param afterClient   for per-session column families: the client id of the last key read before the
 *                      error (null if none); the damaged range starts after it
 * @param resumedClient the client id of the first key read after the damaged range (null if none)
 */
public record ReadError(StoreColumn column, String file, String message, String after, String resumedAt,
                        String afterClient, String resumedClient) {

    public ReadError(StoreColumn column, String file, String message, String after, String resumedAt) {
        this(column, file, message, after, resumedAt, null, null);
    }

    public String describe() {
        StringBuilder b = new StringBuilder("column family ").append(column.cfName()).append(" cannot be read");
        if (file != null) {
            b.append(" (file ").append(file).append(')');
        }
        b.append(": ").append(message);
        b.append("; last readable key before it: ").append(after == null ? "none" : after);
        if (resumedAt != null) {
            b.append("; reading resumed at: ").append(resumedAt);
        }
        return b.toString();
    }
}
