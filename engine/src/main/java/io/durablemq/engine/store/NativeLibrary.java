package io.durablemq.engine.store;

import org.rocksdb.RocksDB;
import org.rocksdb.util.Environment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Loads RocksDB's native library from one stable copy instead of rocksdbjni's default, which
 * unpacks 17 MB into {@code java.io.tmpdir} at every start and deletes it only on a clean exit
 * (a crash loop filled /tmp with them).
 *
 * <p>The library inside the rocksdbjni jar is copied once into a folder named by its SHA-256
 * ({@code rocksdbjni-<16 hex digits>}), so an upgrade gets a new folder and a copy is never
 * mixed up with another version's. The copy goes through a temporary file and an atomic
 * rename, so two processes starting at once each see either nothing or a whole file; an
 * existing copy is loaded only after its hash matched. Where the folder lives:
 * <ol>
 *   <li>{@code -Ddurablemq.native.dir=DIR} when set (for example under the data folder for a
 *       systemd unit with {@code ProtectHome=true});</li>
 *   <li>else {@code $XDG_CACHE_HOME/durablemq}, or {@code $HOME/.cache/durablemq};</li>
 *   <li>if that cannot be written, {@code java.io.tmpdir/durablemq-<user>} (created owner-only);</li>
 *   <li>if nothing works, rocksdbjni's own loader (with a warning: it leaks into /tmp again).</li>
 * </ol>
 */
public final class NativeLibrary {
    private static final Logger log = LoggerFactory.getLogger(NativeLibrary.class);

    /** System property naming the folder that holds the library folders. */
    public static final String DIR_PROPERTY = "durablemq.native.dir";
    /** Temporary files older than this were left by a process that died while copying. */
    private static final Duration STALE_TEMP = Duration.ofHours(1);

    private static Path loadedFrom;
    private static boolean loaded;

    private NativeLibrary() {
    }

    /** Loads the library once per JVM; returns the file it came from (null: rocksdbjni's default loader). */
    public static synchronized Path load() {
        if (loaded) {
            return loadedFrom;
        }
        String resource = Environment.getJniLibraryFileName("rocksdb");
        byte[] library;
        try (InputStream in = RocksDB.class.getResourceAsStream("/" + resource)) {
            library = in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            library = null;
        }
        if (library == null) {
            log.warn("the rocksdbjni jar holds no {}: using rocksdbjni's own loader", resource);
            return loadDefault();
        }
        String hash = sha256(library);
        for (Path root : roots()) {
            try {
                Path file = install(root, library, hash);
                // loadLibrary(paths) looks for this name in each folder and does not unpack anything.
                RocksDB.loadLibrary(List.of(file.getParent().toString()));
                loaded = true;
                loadedFrom = file;
                log.debug("RocksDB native library loaded from {}", file);
                return file;
            } catch (IOException | UnsatisfiedLinkError | SecurityException e) {
                log.warn("cannot use {} for RocksDB's native library ({}); trying the next place", root, e.toString());
            }
        }
        log.warn("no folder for RocksDB's native library could be written; rocksdbjni unpacks it into {} at every start"
                + " (set -D{}=DIR to a writable folder)", System.getProperty("java.io.tmpdir"), DIR_PROPERTY);
        return loadDefault();
    }

    private static Path loadDefault() {
        RocksDB.loadLibrary();
        loaded = true;
        loadedFrom = null;
        return null;
    }

    /** Where to look, in order: the property alone when set, else the user's cache folder, then a private tmp folder. */
    static List<Path> roots() {
        List<Path> roots = new ArrayList<>();
        String configured = System.getProperty(DIR_PROPERTY);
        if (configured != null && !configured.isBlank()) {
            roots.add(Path.of(configured));
            return roots;
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        String home = System.getenv("HOME"); // as a shell sees it; the JVM's user.home comes from the passwd entry
        if (home == null || home.isBlank()) {
            home = System.getProperty("user.home");
        }
        if (xdg != null && !xdg.isBlank()) {
            roots.add(Path.of(xdg, "durablemq"));
        } else if (home != null && !home.isBlank() && !"?".equals(home)) {
            roots.add(Path.of(home, ".cache", "durablemq"));
        }
        roots.add(Path.of(System.getProperty("java.io.tmpdir"), "durablemq-" + System.getProperty("user.name", "user")));
        return roots;
    }

    /** Makes sure {@code root/rocksdbjni-<hash>/<name>} holds exactly {@code library}; returns that file. */
    static Path install(Path root, byte[] library, String hash) throws IOException {
        createPrivateDirectories(root);
        Path dir = root.resolve("rocksdbjni-" + hash.substring(0, 16));
        createPrivateDirectories(dir);
        // The name RocksDB.loadLibrary(List) asks for in each folder.
        Path file = dir.resolve(Environment.getJniLibraryFileName("rocksdbjni"));
        if (Files.isRegularFile(file) && Files.size(file) == library.length && hash.equals(sha256(Files.readAllBytes(file)))) {
            return file;
        }
        removeStaleTemps(dir);
        Path tmp = Files.createTempFile(dir, ".copy-", ".tmp");
        try {
            Files.write(tmp, library);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("the file system of " + dir + " cannot rename atomically", e);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        log.info("RocksDB native library copied to {} (loaded from there from now on)", file);
        return file;
    }

    private static void createPrivateDirectories(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (UnsupportedOperationException notPosix) {
            Files.createDirectory(dir);
        } catch (java.nio.file.FileAlreadyExistsException raced) {
            // another process made it at the same moment
        }
    }

    private static void removeStaleTemps(Path dir) {
        FileTime cutoff = FileTime.from(Instant.now().minus(STALE_TEMP));
        try (DirectoryStream<Path> temps = Files.newDirectoryStream(dir, ".copy-*.tmp")) {
            for (Path t : temps) {
                if (Files.getLastModifiedTime(t).compareTo(cutoff) < 0) {
                    Files.deleteIfExists(t);
                }
            }
        } catch (IOException e) {
            log.debug("could not clean old temporary copies in {}: {}", dir, e.toString());
        }
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
