package org.apache.ratis.server.raftlog.segmented;

import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.util.SizeInBytes;

import java.io.File;
import java.io.IOException;

/**
 * Test access to Ratis 3.3.0's own segment reader, as Ratis uses it when it loads its log at start
 * ({@code LogSegment.readSegmentFile} with the start and end that a segment's file name gives; the
 * name parser {@code LogSegmentStartEnd.valueOf} is package-private, hence this class's package).
 */
public final class RatisSegments {
    private RatisSegments() {
    }

    /**
     * The entries Ratis reads from a segment file before it stops (end of the entries, or padding);
     * {@code end} null for an open segment ({@code log_inprogress_<start>}).
     */
    public static int readableEntries(File file, long start, Long end) throws IOException {
        LogSegmentStartEnd startEnd = end == null ? LogSegmentStartEnd.valueOf(start) : LogSegmentStartEnd.valueOf(start, end);
        return LogSegment.readSegmentFile(file, startEnd, SizeInBytes.valueOf("64MB"),
                RaftServerConfigKeys.Log.CorruptionPolicy.EXCEPTION, null, null);
    }

    /** The length of a segment file's header (before the first entry). */
    public static int headerLength() {
        return SegmentedRaftLogFormat.getHeaderLength();
    }
}
