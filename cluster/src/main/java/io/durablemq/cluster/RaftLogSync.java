package io.durablemq.cluster;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * Makes durable, before Ratis starts, every file of this node's Raft log as the operating system
 * shows it ({@code <group>/current/}: the segments {@code log_*} and Ratis's metadata), then the
 * folder itself.
 *
 * <p>Why: Ratis takes every entry it reads from its log at start as flushed (its log worker starts
 * with the flushed index at the last entry loaded), so the node counts them towards a majority at
 * once. After a process crash (SIGKILL, an OOM kill) the last entries the dead process wrote but had
 * not fsynced yet are still in the page cache: Ratis reads them and treats them as durable, yet
 * nothing makes them so. Ratis fsyncs a segment only when it writes to it again; when the new leader
 * makes the node truncate its open segment right after them (they conflict from some index on),
 * Ratis closes that segment and writes on in a new file, so those entries are never fsynced, and a
 * power cut later removes them from the middle of the log: "Found a gap between logs" at the next
 * start (docs/CLUSTER.md, "A Raft log gap after a follower's power cut"). Syncing what Ratis is about
 * to trust closes that window: afterwards every entry it loads is on the disk.
 *
 * <p>It only fsyncs: nothing is changed, moved or deleted. A file that cannot be synced fails the
 * start, naming it.
 */
public final class RaftLogSync {
    private RaftLogSync() {
    }

    /** The folder of this node's Raft log segments under {@code raftStorage} (Ratis's {@code <group>/current}). */
    public static Path logFolder(Path raftStorage) {
        return RaftLogFiles.currentFolder(raftStorage);
    }

    /**
     * Fsyncs every regular file in the Raft log folder under {@code raftStorage}, then that folder and
     * its parent; returns the files synced (none when the node was never started).
     */
    public static List<Path> makeDurable(Path raftStorage) throws IOException {
        Path current = RaftLogFiles.currentFolder(raftStorage);
        if (!Files.isDirectory(current)) {
            return List.of();
        }
        List<Path> files;
        try (Stream<Path> list = Files.list(current)) {
            files = list.filter(Files::isRegularFile).sorted().toList();
        }
        for (Path file : files) {
            force(file);
        }
        force(current); // the names (a segment's rename from log_inprogress_N to log_N-M) as they are now
        force(current.getParent());
        return files;
    }

    private static void force(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException e) {
            throw new IOException("cannot fsync " + path + " before the Raft server starts (what Ratis reads there"
                    + " it counts as durable): " + e.getMessage(), e);
        }
    }
}
