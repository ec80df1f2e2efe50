package io.durablemq.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What {@link RaftLogSync} syncs and that it changes nothing. That the sync is what keeps a crashed
 * node's loaded entries through a later power cut is proven on LazyFS by
 * {@code mqtt-adapter/…/chaos/RaftLogRestartPowerCutIT}; a page cache cannot be dropped here.
 */
class RaftLogSyncTest {
    @TempDir
    Path dir;

    @Test
    void aNodeNeverStartedHasNothingToSync() throws Exception {
        assertEquals(List.of(), RaftLogSync.makeDurable(dir.resolve("raft")));
        assertTrue(Files.notExists(dir.resolve("raft")), "nothing is created");
    }

    @Test
    void syncsEveryFileOfTheLogFolderAndLeavesThemAsTheyWere() throws Exception {
        Path raft = dir.resolve("raft");
        Path log = RaftLogSync.logFolder(raft);
        Files.createDirectories(log);
        Path closed = Files.write(log.resolve("log_0-417"), new byte[] {1, 2, 3});
        Path open = Files.write(log.resolve("log_inprogress_418"), new byte[] {4, 5});
        Path meta = Files.writeString(log.resolve("raft-meta"), "term=3");
        Files.createDirectories(raft.resolve(RaftLogSync.logFolder(raft).getParent().getFileName()).resolve("sm"));

        assertEquals(List.of(closed, open, meta), RaftLogSync.makeDurable(raft));
        assertEquals(3, Files.size(closed));
        assertEquals(2, Files.size(open));
        assertEquals("term=3", Files.readString(meta));
        assertEquals(RaftLogFiles.currentFolder(raft), log);
    }
}
