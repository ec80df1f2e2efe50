package io.durablemq.broker;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * rocksdbjni's own loader unpacks 17 MB into java.io.tmpdir at every start and deletes it only
 * on a clean exit. The broker, killed with SIGKILL and restarted 10 times, must leave no copy
 * in its tmp folder and exactly one in its native-library folder.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class NativeLibraryRestartTest {
    @TempDir
    Path work;

    @Test
    void tenSigkilledStartsLeaveOneCopyOfTheNativeLibrary() throws Exception {
        Path tmp = Files.createDirectories(work.resolve("tmp"));
        Path nativeDir = work.resolve("native");
        Path data = work.resolve("data");
        List<String> options = List.of("-Djava.io.tmpdir=" + tmp, "-Ddurablemq.native.dir=" + nativeDir);
        for (int i = 0; i < 10; i++) {
            BrokerProcess broker = BrokerProcess.start(work, data, "broker-" + i, options);
            try {
                assertTrue(broker.output().contains("DurableMQ broker ready") || broker.process.isAlive());
            } finally {
                broker.kill(); // SIGKILL: no shutdown hook, no deleteOnExit
            }
        }
        assertEquals(List.of(), rocksdbLibraries(tmp), "nothing unpacked into java.io.tmpdir");
        List<Path> copies = rocksdbLibraries(nativeDir);
        assertEquals(1, copies.size(), "one copy, reused by every start: " + copies);
        try (Stream<Path> all = Files.walk(nativeDir)) {
            assertEquals(List.of(), all.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList(),
                    "no temporary copies left");
        }
    }

    private static List<Path> rocksdbLibraries(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> all = Files.walk(dir)) {
            return all.filter(Files::isRegularFile)
                    .filter(p -> p.getFileName().toString().startsWith("librocksdbjni"))
                    .toList();
        }
    }
}
