package io.durablemq.cluster;

import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.raftlog.segmented.LogSegment;
import org.apache.ratis.server.raftlog.segmented.LogSegmentPath;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Reads where this node's Raft log starts from the names of Ratis's segment files
 * ({@code <group>/current/log_<first>-<last>} and {@code log_inprogress_<first>}), before Ratis
 * starts. Once the log was purged after a snapshot it must start at the latest right after a
 * snapshot this node holds (a purge stops at the snapshot's index, or before it to keep the last
 * preserved entries: {@link SnapshotPolicy#preservedEntries()}); otherwise the entries in between
 * exist nowhere on this node (its snapshot folder was deleted, or a crash interrupted Ratis's swap
 * of it) and Ratis would wait for them forever.
 * Such a node refuses to start, naming the folders, instead of silently never catching up.
 */
final class RaftLogFiles {
    private static final Pattern SEGMENT = Pattern.compile("log_(?:inprogress_)?(\\d+)(?:-\\d+)?");

    private RaftLogFiles() {
    }

    /** Ratis's folder of this node's log segments and Raft metadata. */
    static Path currentFolder(Path raftStorage) {
        return raftStorage.resolve(RaftNode.GROUP_ID.getUuid().toString()).resolve("current");
    }

    /** The first index of the log's oldest segment, if the log has any segment. */
    static OptionalLong firstIndex(Path raftStorage) throws IOException {
        Path current = currentFolder(raftStorage);
        if (!Files.isDirectory(current)) {
            return OptionalLong.empty();
        }
        try (Stream<Path> files = Files.list(current)) {
            return files.map(p -> SEGMENT.matcher(p.getFileName().toString()))
                    .filter(Matcher::matches)
                    .mapToLong(m -> Long.parseLong(m.group(1)))
                    .min();
        }
    }

    /**
     * Refuses a log in which a segment still has its open name ({@code log_inprogress_N}) while a later
     * segment holds entries: Ratis renames a segment to {@code log_N-M} before it writes the next one, so
     * this is a rename a power cut reverted (a disk that had not written the folder change; since
     * {@link RaftLogFolderSync} only possible for a rename whose next segment has no flushed entry, which
     * this check lets through). Ratis itself refuses such a log with "Found a gap between logs", naming the
     * segments around the open one (nothing is missing: a segment is misnamed), and has no check at all when the
     * open one is the first. A later open segment without an entry (created, never
     * written) is no refusal: Ratis deletes it at load.
     */
    static void refuseAnOpenSegmentBeforeTheLast(Path raftStorage) throws IOException {
        Path current = currentFolder(raftStorage);
        if (!Files.isDirectory(current)) {
            return;
        }
        List<Path> segments;
        try (Stream<Path> files = Files.list(current)) {
            segments = files.filter(p -> SEGMENT.matcher(p.getFileName().toString()).matches())
                    .sorted(java.util.Comparator.comparingLong(RaftLogFiles::startIndex)).toList();
        }
        for (int i = 0; i < segments.size() - 1; i++) {
            Path open = segments.get(i);
            if (!isOpen(open)) {
                continue;
            }
            for (Path later : segments.subList(i + 1, segments.size())) {
                if (!isOpen(later) || holdsAnEntry(later)) {
                    throw new IOException("the Raft log in " + current + " has the segment " + open.getFileName()
                            + " still open although the later segment " + later.getFileName() + " holds entries:"
                            + " Ratis renamed it when it closed it, and a power cut undid that rename (the disk had not written"
                            + " the folder change). Stop this node and delete its Raft folder and data folder; it then catches"
                            + " up from the leader (ops/README.md, \"A node that refuses its Raft log\")");
                }
            }
        }
    }

    private static long startIndex(Path segment) {
        Matcher m = SEGMENT.matcher(segment.getFileName().toString());
        if (!m.matches()) {
            throw new IllegalArgumentException("not a Raft log segment: " + segment);
        }
        return Long.parseLong(m.group(1));
    }

    private static boolean isOpen(Path segment) {
        return segment.getFileName().toString().startsWith("log_inprogress_");
    }

    /** Whether an open segment holds at least one whole entry (Ratis's reader; an empty or only preallocated file holds none). */
    private static boolean holdsAnEntry(Path openSegment) throws IOException {
        if (Files.size(openSegment) == 0) {
            return false;
        }
        LogSegmentPath segment = LogSegmentPath.matchLogSegment(openSegment);
        int[] read = {0};
        LogSegment.readSegmentFile(openSegment.toFile(), segment.getStartEnd(), RaftNode.MAX_ENTRY,
                RaftServerConfigKeys.Log.CorruptionPolicy.WARN_AND_RETURN, null, e -> read[0]++);
        return read[0] > 0;
    }

    static void refuseAGapAfter(LocalSnapshot snapshot, Path raftStorage) throws IOException {
        OptionalLong first = firstIndex(raftStorage);
        long covered = snapshot == null ? -1 : snapshot.index();
        if (first.isPresent() && first.getAsLong() > covered + 1) {
            throw new IOException("the Raft log in " + raftStorage + " starts at index " + first.getAsLong() + " but the newest"
                    + " snapshot in " + SnapshotStorage.folderOf(raftStorage) + " is "
                    + (snapshot == null ? "missing" : "at index " + covered) + ": the entries in between are lost on this node."
                    + " Stop it and delete its Raft folder and data folder; it then receives a snapshot from the leader");
        }
    }
}
