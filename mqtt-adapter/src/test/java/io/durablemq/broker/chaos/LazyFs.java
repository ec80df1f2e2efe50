package io.durablemq.broker.chaos;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A LazyFS mount (github.com/dsrhaslab/lazyfs, built by {@code shared/tools/lazyfs/build.sh}): a FUSE
 * file system with its own page cache over a backing folder. {@link #clearCache()} drops every write
 * that was not fsynced, as a power cut does; {@link #command} arms other faults (torn writes).
 *
 * <p>Layout under {@code dir}: {@code mnt/} (the mount point), {@code backing/} (the real files) and
 * {@code lazyfs-N.log} per mount. LazyFS reads fault commands in chunks of 100 bytes and takes any
 * config path containing "-o" for an option, so its config, its fifos and a symbolic link to the
 * backing folder live in a short folder {@code /tmp/pcutNNN} (its names for files in faults start there).
 */
final class LazyFs implements AutoCloseable {
    static final String DEFAULT_BIN = "/tmp/lazyfs/lazyfs/build/lazyfs";

    private final Path bin;
    private final Path dir;
    private final Path mount;
    private final Path backing;
    private final Path shortDir;
    private final Path backingLink;
    private final Path config;
    private final Path faults;
    private final Path completed;
    private final BlockingQueue<String> completions = new LinkedBlockingQueue<>();
    private Process process;
    private Thread completionReader;
    private int mounts;

    /** Kills LazyFS if the test JVM is stopped, so no mount outlives the test. */
    private final Thread reaper = new Thread(this::forceUnmount, "lazyfs-reaper");

    private LazyFs(Path bin, Path dir) throws IOException {
        this.bin = bin;
        this.dir = dir.toAbsolutePath();
        this.mount = this.dir.resolve("mnt");
        this.backing = this.dir.resolve("backing");
        this.shortDir = Files.createTempDirectory(Path.of("/tmp"), "pcut");
        this.backingLink = shortDir.resolve("b");
        this.config = shortDir.resolve("c.toml");
        this.faults = shortDir.resolve("f.fifo");
        this.completed = shortDir.resolve("d.fifo");
    }

    /**
     * The LazyFS binary, or the test is skipped (aborted) saying why; with {@code -Dlazyfs.required=true}
     * (CI, after building LazyFS as root) it fails instead, so CI cannot pass with the proof skipped.
     */
    static Path requireBinary() {
        Path bin = Path.of(System.getProperty("lazyfs.bin", DEFAULT_BIN));
        String missing = null;
        if (!Files.isExecutable(bin)) {
            missing = "LazyFS binary " + bin + " not found: build it with `bash shared/tools/lazyfs/build.sh` (root)"
                    + " or pass -Dlazyfs.bin=PATH";
        } else if (!Files.exists(Path.of("/dev/fuse"))) {
            missing = "/dev/fuse is missing: LazyFS needs FUSE";
        } else if (!"root".equals(System.getProperty("user.name"))) {
            missing = "LazyFS mounts need root (user is " + System.getProperty("user.name") + ")";
        }
        if (missing != null) {
            if (Boolean.getBoolean("lazyfs.required")) {
                Assertions.fail("lazyfs.required=true but " + missing);
            }
            Assumptions.abort("power-cut tests skipped: " + missing);
        }
        return bin;
    }

    /** Mounts a fresh LazyFS under {@code dir} and waits until it serves. */
    static LazyFs mount(Path bin, Path dir) throws Exception {
        LazyFs fs = new LazyFs(bin, dir);
        Runtime.getRuntime().addShutdownHook(fs.reaper);
        Files.createDirectories(fs.mount);
        Files.createDirectories(fs.backing);
        try {
            Files.createSymbolicLink(fs.backingLink, fs.backing);
            fs.writeConfig();
            fs.start();
            return fs;
        } catch (Exception | AssertionError e) {
            fs.close();
            throw e;
        }
    }

    /** The mount point: what the broker uses. */
    Path mountPoint() {
        return mount;
    }

    /** The backing folder: the "disk" after a power cut. */
    Path backing() {
        return backing;
    }

    /** A file under the backing folder by the name LazyFS gives it (the {@code file=} of a fault command). */
    Path nameInFaults(Path relative) {
        return backingLink.resolve(relative);
    }

    boolean isAlive() {
        return process != null && process.isAlive();
    }

    /** A power cut: drops every unsynced write; waits for LazyFS to confirm. Kill the broker first. */
    void clearCache() throws Exception {
        completions.clear();
        command("lazyfs::clear-cache");
        String done = completions.poll(60, TimeUnit.SECONDS);
        if (!"finished::clear-cache".equals(done)) {
            throw new IllegalStateException("LazyFS did not confirm clear-cache within 60 s (got " + done + "); log:\n"
                    + log());
        }
    }

    /** Writes one fault command line to LazyFS's fifo (LazyFS reads one command per read). */
    void command(String line) throws IOException {
        if (!isAlive()) {
            throw new IllegalStateException("LazyFS is not running; log:\n" + log());
        }
        if (line.length() + 1 > 100) {
            throw new IllegalArgumentException("LazyFS reads commands in 100-byte chunks; too long: " + line);
        }
        Files.writeString(faults, line + "\n", StandardCharsets.US_ASCII);
    }

    /** Writes a fault command and waits until LazyFS logs it as configured; fails on an invalid command. */
    void arm(String line) throws Exception {
        command(line);
        long deadline = System.currentTimeMillis() + 5_000;
        // a torn fault can fire (and LazyFS crash) before the "configured" line is written
        while (!log().contains("configured successfully '" + line) && !log().contains("Added crash fault")) {
            if (log().contains("INVALID") || System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("LazyFS did not accept " + line + ":\n" + log());
            }
            Thread.sleep(10);
        }
    }

    /**
     * After LazyFS died (a torn-write fault kills it after the torn write, as a power cut at that
     * instant): unmounts the dead mount and mounts the same backing folder again, whose files now
     * hold only what was fsynced plus the torn write's persisted parts.
     */
    void remount() throws Exception {
        if (isAlive()) {
            throw new IllegalStateException("LazyFS still running: clear its cache instead");
        }
        fusermount("-u");
        start();
    }

    /** A power cut of LazyFS itself: kills it (its cache, every unsynced write, is gone) and mounts the backing folder again. */
    void killAndRemount() throws Exception {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(20, TimeUnit.SECONDS);
        }
        fusermount("-u", "-z"); // the dead mount, detached even while something still holds it
        remount();
    }

    /** SIGSTOP to LazyFS: every file operation on the mount then waits (tests of a hung mount). */
    void freeze() throws Exception {
        new ProcessBuilder("kill", "-STOP", Long.toString(process.pid())).inheritIO().start().waitFor();
    }

    /** Unmounts a live LazyFS (after a clear-cache, so nothing unsynced is left) to {@link #remount()} it. */
    void closeForRemount() throws Exception {
        fusermount("-u");
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(20, TimeUnit.SECONDS);
        }
    }

    /** Waits until the LazyFS process exits (a torn-write fault firing); false when it still runs. */
    boolean awaitExit(long millis) throws InterruptedException {
        return process.waitFor(millis, TimeUnit.MILLISECONDS);
    }

    String log() {
        try {
            Path f = dir.resolve("lazyfs-" + mounts + ".log");
            return Files.exists(f) ? Files.readString(f) : "";
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private void writeConfig() throws IOException {
        // eviction off and a cache larger than a run writes: nothing unsynced reaches the backing folder early
        Files.writeString(config, String.join("\n",
                "[faults]",
                "fifo_path=\"" + faults + "\"",
                "fifo_path_completed=\"" + completed + "\"",
                "[cache]",
                "apply_eviction=false",
                "[cache.simple]",
                "custom_size=\"" + System.getProperty("lazyfs.cache", "768mb") + "\"",
                "blocks_per_page=1",
                "[filesystem]",
                "log_all_operations=false",
                "logfile=\"\"",
                ""));
    }

    private void start() throws Exception {
        mounts++;
        Path logFile = dir.resolve("lazyfs-" + mounts + ".log");
        process = new ProcessBuilder(List.of(bin.toString(), mount.toString(), "--config-path", config.toString(),
                "-o", "allow_other", "-o", "modules=subdir", "-o", "subdir=" + backingLink, "-f"))
                .redirectErrorStream(true)
                .redirectOutput(logFile.toFile())
                .start();
        // LazyFS's fault worker opens the completion fifo for writing before it reads any command, and
        // a write to it with no reader would kill LazyFS (SIGPIPE): keep one reader open for its whole life.
        completions.clear();
        completionReader = new Thread(this::readCompletions, "lazyfs-completions-" + mounts);
        completionReader.setDaemon(true);
        completionReader.start();
        long deadline = System.currentTimeMillis() + 60_000;
        while (!isMounted()) {
            if (!process.isAlive()) {
                throw new IllegalStateException("LazyFS exited with " + process.exitValue() + ":\n" + log());
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("LazyFS did not mount " + mount + " within 60 s:\n" + log());
            }
            Thread.sleep(50);
        }
        while (!Files.exists(faults) || !log().contains("waiting for fault commands")) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("LazyFS fault worker not ready within 60 s:\n" + log());
            }
            Thread.sleep(20);
        }
    }

    private void readCompletions() {
        try {
            while (!Files.exists(completed)) {
                Thread.sleep(10);
            }
            try (BufferedReader r = new BufferedReader(new InputStreamReader(new FileInputStream(completed.toFile()),
                    StandardCharsets.US_ASCII))) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    completions.add(line.strip());
                }
            }
        } catch (IOException | InterruptedException e) {
            completions.add("(completion reader failed: " + e + ")");
        }
    }

    boolean isMounted() throws Exception {
        return new ProcessBuilder("mountpoint", "-q", mount.toString()).start().waitFor() == 0;
    }

    private void fusermount(String... options) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("fusermount3"));
        cmd.addAll(List.of(options));
        cmd.add(mount.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
    }

    /** Unmounts; kills LazyFS if it does not exit by itself. */
    @Override
    public void close() throws Exception {
        try {
            if (isMounted()) {
                fusermount("-u");
                if (isMounted()) {
                    fusermount("-u", "-z"); // busy: detach lazily
                }
            }
            if (process != null && !process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(20, TimeUnit.SECONDS);
            }
            // a LazyFS that died (a torn fault fired) leaves a dead mount `mountpoint` does not report
            fusermount("-u", "-z");
        } finally {
            for (Path f : List.of(backingLink, config, faults, completed, shortDir)) {
                Files.deleteIfExists(f);
            }
            try {
                Runtime.getRuntime().removeShutdownHook(reaper);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or about to
            }
        }
    }

    private void forceUnmount() {
        try {
            fusermount("-u", "-z");
        } catch (Exception ignored) {
            // best effort at JVM exit
        }
        if (process != null) {
            process.destroyForcibly();
        }
    }
}
