package io.durablemq.cluster;

import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.raftlog.segmented.LogSegment;
import org.apache.ratis.server.raftlog.segmented.LogSegmentPath;
import org.apache.ratis.util.SizeInBytes;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteBatch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Reads a stopped node's Raft log from its segment files (Ratis's own reader), for tests. */
final class RaftLogEntries {
    private RaftLogEntries() {
    }

    /** Every entry in the log of the (stopped) node with Raft storage {@code raftStorage}, by index. */
    static Map<Long, LogEntryProto> read(Path raftStorage) throws IOException {
        Path current = raftStorage.resolve(RaftNode.GROUP_ID.getUuid().toString()).resolve("current");
        Map<Long, LogEntryProto> entries = new TreeMap<>();
        try (Stream<Path> files = Files.list(current)) {
            for (Path f : files.toList()) {
                LogSegmentPath segment = LogSegmentPath.matchLogSegment(f);
                if (segment != null) {
                    LogSegment.readSegmentFile(f.toFile(), segment.getStartEnd(), SizeInBytes.valueOf("64MB"),
                            RaftServerConfigKeys.Log.CorruptionPolicy.EXCEPTION, null, e -> entries.put(e.getIndex(), e));
                }
            }
        }
        return entries;
    }

    /** The keys every batch in the log puts into the column family with id {@code columnFamilyId}, in log order. */
    static List<byte[]> putKeys(Map<Long, LogEntryProto> entries, int columnFamilyId) throws RocksDBException {
        List<byte[]> keys = new ArrayList<>();
        for (LogEntryProto e : entries.values()) {
            if (!e.hasStateMachineLogEntry()) {
                continue;
            }
            try (WriteBatch batch = new WriteBatch(e.getStateMachineLogEntry().getLogData().toByteArray());
                 PutCollector collector = new PutCollector(columnFamilyId, keys)) {
                batch.iterate(collector);
            }
        }
        return keys;
    }

    /** Collects the keys of puts into one column family; ignores everything else. */
    private static final class PutCollector extends WriteBatch.Handler {
        private final int columnFamilyId;
        private final List<byte[]> keys;

        PutCollector(int columnFamilyId, List<byte[]> keys) {
            this.columnFamilyId = columnFamilyId;
            this.keys = keys;
        }

        @Override
        public void put(int cf, byte[] key, byte[] value) {
            if (cf == columnFamilyId) {
                keys.add(key);
            }
        }

        @Override
        public void put(byte[] key, byte[] value) {
            put(0, key, value);
        }

        @Override
        public void merge(int cf, byte[] key, byte[] value) {
        }

        @Override
        public void merge(byte[] key, byte[] value) {
        }

        @Override
        public void delete(int cf, byte[] key) {
        }

        @Override
        public void delete(byte[] key) {
        }

        @Override
        public void singleDelete(int cf, byte[] key) {
        }

        @Override
        public void singleDelete(byte[] key) {
        }

        @Override
        public void deleteRange(int cf, byte[] from, byte[] to) {
        }

        @Override
        public void deleteRange(byte[] from, byte[] to) {
        }

        @Override
        public void logData(byte[] blob) {
        }

        @Override
        public void putBlobIndex(int cf, byte[] key, byte[] value) {
        }

        @Override
        public void markBeginPrepare() {
        }

        @Override
        public void markEndPrepare(byte[] xid) {
        }

        @Override
        public void markNoop(boolean emptyBatch) {
        }

        @Override
        public void markRollback(byte[] xid) {
        }

        @Override
        public void markCommit(byte[] xid) {
        }

        @Override
        public void markCommitWithTimestamp(byte[] xid, byte[] ts) {
        }
    }
}
