package io.durablemq.engine.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The stable copy of the native library: one file per content hash, whole or absent, repaired when damaged. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NativeLibraryTest {
    @TempDir
    Path root;

    private static byte[] library(int seed) {
        byte[] b = new byte[256 * 1024];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void theLibraryThisJvmUsesCameFromTheStableFolder() {
        Path loaded = NativeLibrary.load();
        assertNotNull(loaded, "loaded from a stable copy, not rocksdbjni's temporary one");
        assertTrue(Files.isRegularFile(loaded));
        assertTrue(loaded.getParent().getFileName().toString().startsWith("rocksdbjni-"));
    }

    @Test
    void concurrentInstallsAgreeOnOneWholeFile() throws Exception {
        byte[] lib = library(1);
        String hash = NativeLibrary.sha256(lib);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Path>> installs = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                installs.add(pool.submit(() -> NativeLibrary.install(root, lib, hash)));
            }
            Set<Path> files = new HashSet<>();
            for (Future<Path> f : installs) {
                files.add(f.get(30, TimeUnit.SECONDS));
            }
            assertEquals(1, files.size());
            Path file = files.iterator().next();
            assertArrayEquals(lib, Files.readAllBytes(file));
            try (Stream<Path> all = Files.walk(root)) {
                assertEquals(1, all.filter(Files::isRegularFile).count(), "no temporary copies left");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aDamagedCopyIsReplacedAndAnotherVersionGetsItsOwnFolder() throws Exception {
        byte[] lib = library(2);
        Path file = NativeLibrary.install(root, lib, NativeLibrary.sha256(lib));
        Files.write(file, new byte[]{1, 2, 3}); // truncated by a crash or a careless hand
        assertEquals(file, NativeLibrary.install(root, lib, NativeLibrary.sha256(lib)));
        assertArrayEquals(lib, Files.readAllBytes(file));

        byte[] other = library(3);
        Path otherFile = NativeLibrary.install(root, other, NativeLibrary.sha256(other));
        assertTrue(!otherFile.getParent().equals(file.getParent()), "an upgrade gets a new folder");
        assertArrayEquals(lib, Files.readAllBytes(file), "the old copy is untouched");
    }
}
