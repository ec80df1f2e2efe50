package io.durablemq.cluster;

import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.SnapshotInfo;
import org.apache.ratis.statemachine.SnapshotRetentionPolicy;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.impl.FileListSnapshotInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Where this node's snapshots live: folders {@code snapshot.<term>_<index>} in the Raft storage's
 * state-machine folder ({@code <cluster_storage_path>/<group>/sm/}), each a RocksDB checkpoint of
 * the store plus its {@link SnapshotManifest}. Ratis ships a snapshot's files to a follower
 * chunk by chunk and, once all arrived (each checked against the leader's MD5), replaces the
 * follower's whole {@code sm/} folder with them; {@link BatchStateMachine#reinitialize} then loads
 * the store from it.
 */
final class SnapshotStorage implements StateMachineStorage {
    private static final Logger log = LoggerFactory.getLogger(SnapshotStorage.class);
    private static final Pattern FOLDER = Pattern.compile("snapshot\\.(\\d+)_(\\d+)");
    private static final String IN_PROGRESS = ".in-progress";

    private volatile Path dir;
    private volatile LocalSnapshot latest;
    private volatile FileListSnapshotInfo latestInfo;

    /** The state-machine folder Ratis uses under {@code raftStorage} for the one DurableMQ group. */
    static Path folderOf(Path raftStorage) {
        return raftStorage.resolve(RaftNode.GROUP_ID.getUuid().toString()).resolve("sm");
    }

    @Override
    public void init(RaftStorage raftStorage) throws IOException {
        dir = raftStorage.getStorageDir().getStateMachineDir().toPath();
        Files.createDirectories(dir);
        latest = readLatest(dir);
    }

    /** Re-reads the newest snapshot after Ratis installed one, and checks every file of it. */
    LocalSnapshot reloadVerified() throws IOException {
        LocalSnapshot s = readLatest(dir);
        if (s == null) {
            throw new IOException("Ratis reported an installed snapshot, but " + dir + " holds none");
        }
        s.manifest().verify(s.folder());
        latest = s;
        return s;
    }

    LocalSnapshot latest() {
        return latest;
    }

    /**
     * Writes a checkpoint of the slot's store at {@code at} (the applied index: the caller runs on
     * the apply thread, so no batch lands during it) and makes it the latest snapshot. Returns null,
     * writing nothing, when the slot holds no store (a hand-over or shutdown).
     */
    LocalSnapshot take(StoreSlot slot, TermIndex at) throws IOException {
        String name = name(at.getTerm(), at.getIndex());
        Path work = dir.resolve(name + IN_PROGRESS);
        deleteTree(work);
        long t0 = System.nanoTime();
        if (!slot.checkpoint(work)) {
            return null;
        }
        long t1 = System.nanoTime();
        SnapshotManifest manifest = SnapshotManifest.write(work, at.getTerm(), at.getIndex(), latest);
        long t2 = System.nanoTime();
        SnapshotManifest.fsync(work);
        Path done = dir.resolve(name);
        Files.move(work, done, StandardCopyOption.ATOMIC_MOVE);
        SnapshotManifest.fsync(dir);
        log.info("snapshot {} phases: checkpoint {} ms, manifest {} ms, rename {} ms", name, (t1 - t0) / 1_000_000,
                (t2 - t1) / 1_000_000, (System.nanoTime() - t2) / 1_000_000);
        LocalSnapshot s = new LocalSnapshot(done, manifest);
        latest = s;
        return s;
    }

    /** Ratis asks for this often (each log appender round checks whether a follower needs it): built once per snapshot. */
    @Override
    public SnapshotInfo getLatestSnapshot() {
        LocalSnapshot s = latest;
        if (s == null) {
            return null;
        }
        FileListSnapshotInfo info = latestInfo;
        if (info == null || !info.getTermIndex().equals(s.termIndex())) {
            List<FileInfo> files = new ArrayList<>();
            for (SnapshotManifest.Entry e : s.manifest().files()) {
                files.add(new FileInfo(s.folder().resolve(e.name()).toAbsolutePath(), null));
            }
            files.add(new FileInfo(s.folder().resolve(SnapshotManifest.FILE_NAME).toAbsolutePath(), null));
            info = new FileListSnapshotInfo(files, s.termIndex());
            latestInfo = info;
        }
        return info;
    }

    @Override
    public void format() {
        // nothing: an empty folder has no snapshot
    }

    /** Keeps the newest snapshots (the policy's number), deletes older ones and interrupted ones. */
    @Override
    public void cleanupOldSnapshots(SnapshotRetentionPolicy policy) throws IOException {
        Path d = dir;
        if (d == null) {
            return;
        }
        int keep = Math.max(1, policy == null ? 1 : policy.getNumSnapshotsRetained());
        List<Path> folders = snapshotFolders(d);
        for (Path old : folders.subList(Math.min(keep, folders.size()), folders.size())) {
            log.info("deleting old raft snapshot {}", old);
            deleteTree(old);
        }
        try (Stream<Path> list = Files.list(d)) {
            for (Path p : list.filter(p -> p.getFileName().toString().endsWith(IN_PROGRESS)).toList()) {
                deleteTree(p);
            }
        }
    }

    /** The newest snapshot in {@code smDir}, its manifest read but its files not checked; null if none. */
    static LocalSnapshot readLatest(Path smDir) throws SnapshotDamagedException {
        List<Path> folders;
        try {
            folders = Files.isDirectory(smDir) ? snapshotFolders(smDir) : List.of();
        } catch (IOException e) {
            throw new SnapshotDamagedException(smDir, "the folder cannot be listed: " + e);
        }
        if (folders.isEmpty()) {
            return null;
        }
        Path folder = folders.get(0);
        SnapshotManifest m = SnapshotManifest.read(folder);
        Matcher name = FOLDER.matcher(folder.getFileName().toString());
        if (!name.matches() || Long.parseLong(name.group(1)) != m.term() || Long.parseLong(name.group(2)) != m.index()) {
            throw new SnapshotDamagedException(folder, "its file list says term " + m.term() + " index " + m.index()
                    + ", which is not the folder's name");
        }
        return new LocalSnapshot(folder, m);
    }

    /** The newest snapshot in {@code smDir} with every file checked, or null if there is none. */
    static LocalSnapshot latestVerified(Path smDir) throws SnapshotDamagedException {
        LocalSnapshot s = readLatest(smDir);
        if (s != null) {
            s.manifest().verify(s.folder());
        }
        return s;
    }

    /** Snapshot folders, newest (highest index) first. */
    private static List<Path> snapshotFolders(Path d) throws IOException {
        try (Stream<Path> list = Files.list(d)) {
            return list.filter(p -> Files.isDirectory(p) && FOLDER.matcher(p.getFileName().toString()).matches())
                    .sorted(Comparator.comparingLong(SnapshotStorage::indexOf).reversed())
                    .toList();
        }
    }

    private static long indexOf(Path folder) {
        Matcher m = FOLDER.matcher(folder.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(2)) : -1;
    }

    static String name(long term, long index) {
        return "snapshot." + term + "_" + index;
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }
}
