package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfigException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Moquette's password file: one {@code user:hash} per line (split at the first ':'), lines
 * starting with '#' and blank lines ignored. See {@link PasswordHash} for the hash formats.
 */
public final class PasswordFile {

    private final Path path;
    private final Map<String, PasswordHash> users;

    private PasswordFile(Path path, Map<String, PasswordHash> users) {
        this.path = path;
        this.users = Map.copyOf(users);
    }

    /** Reads and checks the whole file; any bad line is an error naming the file and line. */
    public static PasswordFile read(Path path) throws BrokerConfigException {
        List<String> lines;
        try {
            lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new BrokerConfigException("password_file " + path + ": cannot be read: " + e, e);
        }
        Map<String, PasswordHash> users = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String where = "password_file " + path + ":" + (i + 1) + ": ";
            int colon = line.indexOf(':');
            if (colon <= 0) {
                throw new BrokerConfigException(where + "expected user:hash");
            }
            String user = line.substring(0, colon).strip();
            PasswordHash hash;
            try {
                hash = PasswordHash.parse(line.substring(colon + 1));
            } catch (IllegalArgumentException e) {
                throw new BrokerConfigException(where + "user '" + user + "': " + e.getMessage());
            }
            if (users.putIfAbsent(user, hash) != null) {
                throw new BrokerConfigException(where + "user '" + user + "' is listed twice");
            }
        }
        return new PasswordFile(path, users);
    }

    public Path path() {
        return path;
    }

    /** The stored hash of a user, or null. */
    public PasswordHash get(String user) {
        return users.get(user);
    }

    public int size() {
        return users.size();
    }

    /** The highest PBKDF2 iteration count in the file (SCRAM entries included), 0 if it has no such entry. */
    public int maxPbkdf2Iterations() {
        return users.values().stream().mapToInt(h -> h instanceof PasswordHash.Pbkdf2 p ? p.iterations()
                : h instanceof PasswordHash.Scram s ? s.credentials().iterations() : 0).max().orElse(0);
    }

    /** The highest iteration count of the file's SCRAM entries, 0 if it has none. */
    public int maxScramIterations() {
        return users.values().stream().mapToInt(h -> h instanceof PasswordHash.Scram s ? s.credentials().iterations() : 0)
                .max().orElse(0);
    }

    /** Users still stored in Moquette's unsalted SHA-256 format. */
    public List<String> legacyUsers() {
        List<String> out = new ArrayList<>();
        users.forEach((u, h) -> {
            if (h instanceof PasswordHash.Sha256Hex) {
                out.add(u);
            }
        });
        return out;
    }

    /** Checks a user name can be stored in this format. Returns the problem, or null. */
    public static String invalidUserName(String user) {
        if (user.isEmpty()) {
            return "user name is empty";
        }
        if (user.indexOf(':') >= 0) {
            return "user name must not contain ':'";
        }
        if (user.startsWith("#")) {
            return "user name must not start with '#'";
        }
        if (!user.strip().equals(user) || user.chars().anyMatch(Character::isISOControl)) {
            return "user name must not have leading or trailing blanks or control characters";
        }
        return null;
    }

    /**
     * Adds {@code user} or replaces its line, keeping every other line (comments included) as it
     * was. The file is rewritten through a temporary file and an atomic rename, so a crash never
     * leaves half a file; a new file is created readable by its owner only.
     *
     * @return true if the user was added, false if an existing entry was replaced
     */
    public static boolean setUser(Path path, String user, PasswordHash hash) throws IOException {
        String problem = invalidUserName(user);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        Path file = path.toAbsolutePath();
        List<String> lines = Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : new ArrayList<>();
        List<String> out = new ArrayList<>(lines.size() + 1);
        String entry = user + ":" + hash.encoded();
        boolean replaced = false;
        for (String line : lines) {
            String s = line.strip();
            int colon = s.indexOf(':');
            boolean isUser = !s.startsWith("#") && colon > 0 && s.substring(0, colon).strip().equals(user);
            if (!isUser) {
                out.add(line);
            } else if (!replaced) {
                out.add(entry);
                replaced = true;
            } // a second line for the same user would be rejected by read(): drop it
        }
        if (!replaced) {
            out.add(entry);
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Set<PosixFilePermission> perms = permissions(file);
        Files.deleteIfExists(tmp);
        if (perms != null) {
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(perms));
        }
        Files.write(tmp, out, StandardCharsets.UTF_8);
        try {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
        return !replaced;
    }

    /** The existing file's permissions, or owner-only for a new file; null where not POSIX. */
    private static Set<PosixFilePermission> permissions(Path file) throws IOException {
        Path folder = file.getParent();
        if (Files.getFileAttributeView(folder, PosixFileAttributeView.class) == null) {
            return null;
        }
        return Files.exists(file) ? Files.getPosixFilePermissions(file) : PosixFilePermissions.fromString("rw-------");
    }
}
