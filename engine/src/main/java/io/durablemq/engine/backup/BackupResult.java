package io.durablemq.engine.backup;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;

/**
 * One online backup: a complete RocksDB store in {@code path} that a broker can start on.
 *
 * @param path            the backup folder
 * @param startedAt       when the backup was requested
 * @param duration        from the request until the copy was complete on disk
 * @param files           files in the copy
 * @param bytes           their total size (what copying the folder elsewhere costs)
 * @param sharedBytes     of {@code bytes}, the part in files hard-linked with the live store
 *                        (no extra disk space until compaction deletes them from the store)
 * @param messageIdsBelow the consistent point: every message the engine had stored before the
 *                        request has an id below this, and is in the copy (newer ones may be too)
 */
public record BackupResult(Path path, Instant startedAt, Duration duration, int files, long bytes,
                           long sharedBytes, long messageIdsBelow) {
}
