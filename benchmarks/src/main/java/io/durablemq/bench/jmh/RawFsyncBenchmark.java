package io.durablemq.bench.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * The disk's own limit: append a small record to a file and fsync it
 * ({@code FileChannel.force(false)}, i.e. fdatasync), one record per fsync, in the same folder
 * as the engine benchmarks' stores. Commits per second above this figure are only possible by
 * sharing fsyncs (group commit).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(1)
public class RawFsyncBenchmark {

    @Param({"128"})
    int recordBytes;

    private Path dir;
    private FileChannel channel;
    private ByteBuffer record;

    @Setup(Level.Iteration)
    public void open() throws IOException {
        dir = BenchDirs.create("fsync");
        channel = FileChannel.open(dir.resolve("wal"), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
        record = ByteBuffer.allocateDirect(recordBytes);
    }

    @Benchmark
    public void appendAndFsync() throws IOException {
        record.clear();
        while (record.hasRemaining()) {
            channel.write(record);
        }
        channel.force(false);
    }

    @TearDown(Level.Iteration)
    public void close() throws IOException {
        channel.close();
        BenchDirs.delete(dir);
    }
}
