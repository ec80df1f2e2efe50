package io.durablemq.cluster;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Makes this node's Raft log folder's own changes durable before Ratis counts an entry written after
 * them as flushed: called by Ratis's log worker right before it fsyncs the open segment
 * ({@link BatchStateMachine#flush}, Ratis's {@code StateMachine.DataApi.flush} hook), it fsyncs the
 * folder when the set of segment files changed since its last sync.
 *
 * <p>Why: Ratis fsyncs a segment's content but never the folder after it creates a segment
 * ({@code log_inprogress_N}), renames a full or truncated one to {@code log_N-M}, or deletes one. A power
 * cut on a disk that had not yet written such a change reverts it while the fsynced content stays: a
 * new segment whose entries were fsynced (and counted towards a majority) disappears with its name, and
 * Ratis starts with a shorter log that looks whole (docs/CLUSTER.md, "A power cut that reverts a rename or
 * a file creation"). After this sync such a change can only revert while the entries after it are not
 * yet flushed, so nothing this node acknowledged goes with it.
 *
 * <p>A change is a file that appeared, disappeared, or was replaced under the same name by another inode
 * (a segment deleted by a truncation and a new one created with the same start index): each folder entry is
 * its name and its inode ({@link BasicFileAttributes#fileKey()}; a file system that gives the new file the
 * freed inode number has the same entry in the folder, so nothing there to revert). A newly seen file is fsynced too (a
 * segment closed by a truncation was shortened without fsync before its rename). One folder fsync per
 * segment roll or truncation. A flush costs one {@code stat} of the open segment as last synced: every roll
 * and every truncation renames or deletes that file (Ratis writes only to the newest segment), and only then
 * is the folder listed. A purge alone (old closed segments deleted) is synced with the next roll: a reverted
 * purge brings back entries below a snapshot, which lose nothing.
 *
 * <p>Only Ratis's log worker thread calls {@link #syncIfChanged}.
 */
final class RaftLogFolderSync {
    /** No syncing: a node whose Raft log is not fsynced at all ({@code Durability.OS}) has nothing to keep in order. */
    static final RaftLogFolderSync NONE = new RaftLogFolderSync(null);

    private final Path folder;
    private final AtomicLong folderSyncs = new AtomicLong();
    private Map<String, Object> synced = Map.of();
    /** The newest open segment ({@code log_inprogress_N}) at the last sync and its inode, or null. */
    private Path open;
    private Object openKey;

    RaftLogFolderSync(Path folder) {
        this.folder = folder;
    }

    /** For the folder of the log under {@code raftStorage}. */
    static RaftLogFolderSync of(Path raftStorage) {
        return new RaftLogFolderSync(RaftLogFiles.currentFolder(raftStorage));
    }

    /** Fsyncs every segment file not seen at the last sync, then the folder, if the segment files changed; true if it synced. */
    boolean syncIfChanged() throws IOException {
        if (folder == null || openSegmentUnchanged()) {
            return false;
        }
        Map<String, Object> now = segments();
        if (now.equals(synced)) {
            return false;
        }
        for (Map.Entry<String, Object> e : now.entrySet()) {
            if (!Objects.equals(synced.get(e.getKey()), e.getValue())) {
                force(folder.resolve(e.getKey()));
            }
        }
        force(folder);
        synced = now;
        open = now.keySet().stream().filter(n -> n.startsWith(OPEN_PREFIX))
                .max(java.util.Comparator.comparingLong(n -> Long.parseLong(n.substring(OPEN_PREFIX.length()))))
                .map(folder::resolve).orElse(null);
        openKey = open == null ? null : now.get(open.getFileName().toString());
        folderSyncs.incrementAndGet();
        return true;
    }

    private static final String OPEN_PREFIX = "log_inprogress_";

    /** True if the open segment of the last sync is still there, the same file: then no segment was created, renamed or truncated away. */
    private boolean openSegmentUnchanged() throws IOException {
        if (open == null) {
            return false;
        }
        try {
            BasicFileAttributes a = Files.readAttributes(open, BasicFileAttributes.class);
            return a.fileKey() != null && a.fileKey().equals(openKey);
        } catch (java.nio.file.NoSuchFileException renamed) {
            return false;
        }
    }

    /** How many times the folder was fsynced since start. */
    long folderSyncs() {
        return folderSyncs.get();
    }

    /** The segment files (name to inode) as of the last folder sync. */
    Map<String, Object> synced() {
        return synced;
    }

    private Map<String, Object> segments() throws IOException {
        Map<String, Object> files = new HashMap<>();
        try (Stream<Path> list = Files.list(folder)) {
            for (Path p : list.toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith("log_")) {
                    try {
                        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                        files.put(name, a.fileKey() == null ? a.creationTime() : a.fileKey());
                    } catch (java.nio.file.NoSuchFileException gone) {
                        // deleted between the listing and here (a purge): not part of the folder any more
                    }
                }
            }
        }
        return files;
    }

    private static void force(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (java.nio.file.NoSuchFileException gone) {
            // a segment deleted meanwhile: the folder sync that follows records its removal
        }
    }
}
