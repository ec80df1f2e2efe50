package io.durablemq.engine.check;

import io.durablemq.engine.store.BlobFileScan;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Names the blob file behind a read error. RocksDB's errors for a damaged blob file
 * ({@code Blob CRC mismatch}, {@code Column family ID mismatch}, {@code Error while decoding blob
 * log footer}) name no file, so a refusal or a verify report would say "cannot be read" without
 * saying where; this reads the folder's blob files ({@link BlobFileScan}) and puts the damaged
 * one's name and offset into the error. Only on the error path (and in {@code verify}, which reads
 * everything anyway): the scan reads every blob file once.
 */
public final class BlobDamage {
    private BlobDamage() {
    }

    /** Whether RocksDB's message is about a blob file (so no file is named in it). */
    static boolean aboutBlobs(String message) {
        String m = String.valueOf(message).toLowerCase(Locale.ROOT);
        return m.contains("blob") || m.contains("column family id mismatch");
    }

    /** The errors, those about blob files with the damaged blob file named; unchanged when none is found. */
    public static List<ReadError> attribute(Path dir, List<ReadError> errors) {
        if (errors.stream().noneMatch(e -> e.file() == null && aboutBlobs(e.message()))) {
            return errors;
        }
        String where = describe(dir);
        String file = firstDamagedFile(dir);
        List<ReadError> out = new ArrayList<>(errors.size());
        for (ReadError e : errors) {
            if (e.file() == null && aboutBlobs(e.message())) {
                out.add(new ReadError(e.column(), file, e.message() + " [" + where + "]", e.after(), e.resumedAt(),
                        e.afterClient(), e.resumedClient()));
            } else {
                out.add(e);
            }
        }
        return List.copyOf(out);
    }

    /**
     * What the folder's blob files say: each damaged file with offset and reason; if every
     * checksum holds, the files whose unchecksummed header may be what RocksDB refused; null if
     * there are no blob files.
     */
    public static String describe(Path dir) {
        try {
            List<Path> files = BlobFileScan.blobFiles(dir);
            if (files.isEmpty()) {
                return null;
            }
            List<BlobFileScan.Result> damaged = BlobFileScan.damaged(dir);
            if (!damaged.isEmpty()) {
                return String.join("; ", damaged.stream().map(BlobFileScan.Result::describe).toList());
            }
            return "every blob file's checksums hold; the unchecksummed header (column family id, version) of one of "
                    + files.stream().map(p -> p.getFileName().toString()).toList() + " is damaged";
        } catch (IOException e) {
            return "the blob files cannot be read: " + e;
        }
    }

    /**
     * The damaged blob files among {@code live} (the names the store's MANIFEST lists), as problems
     * for verify (empty when none). Only live files: a compaction cut short by a close can leave an
     * unfinished blob file without its footer in the folder, which RocksDB never reads; scanning it
     * reported a healthy store as damaged (seen once in the engine's tests under load).
     */
    public static List<String> problems(Path dir, java.util.Set<String> live) {
        try {
            return BlobFileScan.damaged(dir, f -> live.contains(f.getFileName().toString())).stream()
                    .map(BlobFileScan.Result::describe).toList();
        } catch (IOException e) {
            return List.of("the blob files cannot be read: " + e);
        }
    }

    private static String firstDamagedFile(Path dir) {
        try {
            List<BlobFileScan.Result> damaged = BlobFileScan.damaged(dir);
            if (!damaged.isEmpty()) {
                return damaged.get(0).file().getFileName().toString();
            }
            List<Path> files = BlobFileScan.blobFiles(dir);
            return files.size() == 1 ? files.get(0).getFileName().toString() : null;
        } catch (IOException e) {
            return null;
        }
    }
}
