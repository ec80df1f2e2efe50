package io.durablemq.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * When {@link RaftLogFolderSync} fsyncs the folder: at each change Ratis makes to its segment files (a roll, a
 * truncation), not at a flush without one. That Ratis calls it before
 * each log flush is {@code RaftLogFolderRevertTest.everySegmentFileOfAWritingNodeIsInAFolderSync}.
 */
class RaftLogFolderSyncTest {
    @TempDir
    Path dir;

    @Test
    void syncsAtEachChangeOfTheSegmentFilesOnly() throws Exception {
        Files.write(dir.resolve("log_0-9"), new byte[] {1});
        Files.write(dir.resolve("log_inprogress_10"), new byte[] {2});
        Files.writeString(dir.resolve("raft-meta"), "term=1");
        RaftLogFolderSync sync = new RaftLogFolderSync(dir);
        assertTrue(sync.syncIfChanged(), "the first flush syncs what is there");
        assertFalse(sync.syncIfChanged(), "nothing changed");
        Files.write(dir.resolve("log_inprogress_10"), new byte[] {2, 3});
        assertFalse(sync.syncIfChanged(), "an append is the segment's own fsync, not a folder change");

        Files.move(dir.resolve("log_inprogress_10"), dir.resolve("log_10-11")); // a roll
        assertFalse(sync.synced().containsKey("log_10-11"));
        Files.write(dir.resolve("log_inprogress_12"), new byte[] {4});
        assertTrue(sync.syncIfChanged(), "a roll");
        assertEquals(java.util.Set.of("log_0-9", "log_10-11", "log_inprogress_12"), sync.synced().keySet());

        Files.delete(dir.resolve("log_inprogress_12")); // a truncation deleting the open segment
        Files.write(dir.resolve("log_inprogress_11"), new byte[] {5}); // and the new leader's entries from 11 on
        assertTrue(sync.syncIfChanged(), "a truncation");
        assertFalse(sync.syncIfChanged());
        assertEquals(2 + 1, sync.folderSyncs());
    }

    @Test
    void aNodeWithoutLogFsyncNeverSyncs() throws Exception {
        assertFalse(RaftLogFolderSync.NONE.syncIfChanged());
        assertEquals(0, RaftLogFolderSync.NONE.folderSyncs());
    }
}
