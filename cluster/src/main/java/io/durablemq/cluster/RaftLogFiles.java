package io.durablemq.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Reads where this node's Raft log starts from the names of Ratis's segment files
 * ({@code <group>/current/log_<first>-<last>} and {@code log_inprogress_<first>}), before Ratis
 * starts. Once the log was purged up to a snapshot it must start right after a snapshot this
 * node holds; otherwise the entries in between exist nowhere on this node (its snapshot folder
 * was deleted, or a crash interrupted Ratis's swap of it) and Ratis would wait for them forever.
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
