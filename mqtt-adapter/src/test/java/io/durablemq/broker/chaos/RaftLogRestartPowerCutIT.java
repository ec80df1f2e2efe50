package io.durablemq.broker.chaos;

import io.durablemq.cluster.RaftLogSync;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.proto.RaftProtos.StateMachineLogEntryProto;
import org.apache.ratis.server.raftlog.LogProtoUtils;
import org.apache.ratis.server.raftlog.segmented.RatisSegments;
import org.apache.ratis.server.raftlog.segmented.SegmentedRaftLogOutputStream;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.thirdparty.com.google.protobuf.CodedOutputStream;
import org.apache.ratis.util.FileUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Raft log gap of {@code ClusterPowerCutIT} run 3, reduced to the file operations that made it,
 * on LazyFS with Ratis 3.3.0's own segment writer and reader (docs/CLUSTER.md, "A Raft log gap after
 * a follower's power cut"):
 * <ol>
 *   <li>a node's process dies (SIGKILL) after writing entries 30..39 to its open segment
 *       {@code log_inprogress_0} but before fsyncing them: they are only in the (LazyFS) page cache;</li>
 *   <li>it restarts: Ratis reads all 40 entries and takes them as flushed (its log worker starts with
 *       the flushed index at the last entry loaded);</li>
 *   <li>the new leader's entry 39 has another term: Ratis truncates the segment after entry 38, renames
 *       it {@code log_0-38} and writes (and fsyncs) entries 39.. into a new {@code log_inprogress_39},
 *       so nothing ever fsyncs {@code log_0-38} again;</li>
 *   <li>a power cut.</li>
 * </ol>
 * Without {@link RaftLogSync} entries 30..38 are gone from the middle of the log (Ratis's "Found a gap
 * between logs" at the next start), although the node had counted them as durable; with it, run
 * before Ratis reads the log (as {@code ClusterNode} does), all 39 are there.
 *
 * <p>Needs root and LazyFS ({@link LazyFs#requireBinary()}); a few seconds.
 */
class RaftLogRestartPowerCutIT {
    private static final int SYNCED = 30;
    private static final int WRITTEN = 40;
    private static final long SEGMENT_MAX = 8L << 20;
    private static final long PREALLOCATE = 4L << 20;
    private final ByteBuffer writeBuffer = ByteBuffer.allocateDirect(1 << 20);

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void entriesLoadedAfterACrashSurviveALaterPowerCut() throws Exception {
        Path bin = LazyFs.requireBinary();
        Path work = ChaosIT.workRoot().resolve("raft-log-restart-" + System.currentTimeMillis());
        Files.createDirectories(work);
        byte[] segment = segmentBytes(work.resolve("scratch"));
        try (LazyFs fs = LazyFs.mount(bin, work.resolve("lazyfs"))) {
            // the control: shows that the sequence loses entries Ratis counted as durable when nothing syncs them
            assertEquals(WRITTEN - 1 - SYNCED, lostAfterPowerCut(fs, fs.mountPoint().resolve("without-sync"), segment, false),
                    "without RaftLogSync the power cut should remove the entries loaded but never fsynced (LazyFS in " + work + ")");
            assertEquals(0, lostAfterPowerCut(fs, fs.mountPoint().resolve("with-sync"), segment, true),
                    "with RaftLogSync before the restart, entries Ratis loaded were lost at the power cut (" + work + ")");
        }
    }

    /** Runs the sequence in a Raft storage folder on the mount; returns how many of entries 0..38 the power cut removed. */
    private int lostAfterPowerCut(LazyFs fs, Path raftStorage, byte[] segment, boolean syncAtStart) throws Exception {
        Path log = RaftLogSync.logFolder(raftStorage);
        Files.createDirectories(log);
        Path open = log.resolve("log_inprogress_0");
        // 1. what the dead process left: entries 0..29 fsynced, 30..39 written only
        try (FileChannel c = FileChannel.open(open, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            c.write(ByteBuffer.wrap(segment, 0, (int) offsetOf(SYNCED)));
            c.force(false);
            c.write(ByteBuffer.wrap(segment, (int) offsetOf(SYNCED), segment.length - (int) offsetOf(SYNCED)));
        }
        // 2. the restart: ClusterNode's start-up step, then Ratis loads the segment
        if (syncAtStart) {
            RaftLogSync.makeDurable(raftStorage);
        }
        assertEquals(WRITTEN, RatisSegments.readableEntries(open.toFile(), 0, null), "entries Ratis loads at the restart");
        // 3. Ratis's TruncateLog of the open segment from entry 39 on (its FileUtils.truncateFile, then the rename)
        try (FileChannel c = FileChannel.open(open, StandardOpenOption.WRITE)) {
            c.truncate(offsetOf(WRITTEN - 1));
        }
        Path closed = log.resolve("log_0-" + (WRITTEN - 2));
        FileUtils.move(open, closed);
        try (SegmentedRaftLogOutputStream next = new SegmentedRaftLogOutputStream(log.resolve("log_inprogress_" + (WRITTEN - 1)).toFile(),
                false, SEGMENT_MAX, PREALLOCATE, writeBuffer)) {
            for (int i = WRITTEN - 1; i < WRITTEN + 4; i++) {
                next.write(entry(i, 2));
                next.flush(); // fsync mode: each entry is fsynced before the node acknowledges it
            }
        }
        // 4. the power cut
        fs.clearCache();
        return (WRITTEN - 1) - RatisSegments.readableEntries(closed.toFile(), 0, (long) WRITTEN - 2);
    }

    /** Segment {@code log_0-39} as Ratis writes it (on the real disk), closed, so without padding. */
    private byte[] segmentBytes(Path scratch) throws Exception {
        Files.createDirectories(scratch);
        Path file = scratch.resolve("log_inprogress_0");
        try (SegmentedRaftLogOutputStream out = new SegmentedRaftLogOutputStream(file.toFile(), false, SEGMENT_MAX, PREALLOCATE, writeBuffer)) {
            for (int i = 0; i < WRITTEN; i++) {
                out.write(entry(i, 1));
            }
        }
        byte[] bytes = Files.readAllBytes(file);
        assertEquals(offsetOf(WRITTEN), bytes.length, "segment length by Ratis's format (header, then size, entry, CRC each)");
        return bytes;
    }

    /** Where entry {@code index} starts in the segment: the header, then per entry its size, the entry and a 4-byte CRC. */
    private static long offsetOf(int index) {
        long offset = RatisSegments.headerLength();
        for (int i = 0; i < index; i++) {
            int size = entry(i, 1).getSerializedSize();
            offset += CodedOutputStream.computeUInt32SizeNoTag(size) + size + 4;
        }
        return offset;
    }

    private static LogEntryProto entry(int index, long term) {
        byte[] data = new byte[4_000];
        Arrays.fill(data, (byte) (index % 250 + 1));
        return LogProtoUtils.toLogEntryProto(StateMachineLogEntryProto.newBuilder().setLogData(ByteString.copyFrom(data)).build(),
                term, index);
    }
}
