package io.durablemq.broker.security;

import io.durablemq.broker.security.scram.ScramCredentials;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExitCodeGenerator;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.Console;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * {@code durablemq passwd FILE USER}: adds a user to a password file or changes its password,
 * stored as a salted PBKDF2 hash, or with {@code --scram} as SCRAM-SHA-256 values (see
 * {@link PasswordHash.Scram}). Other lines of the file stay as they were. The password is
 * read from the terminal without echo (asked twice), or as one line from standard input when
 * that is not a terminal or {@code --password-stdin} is given, so scripts never put it on a
 * command line.
 */
@Command(name = "passwd", mixinStandardHelpOptions = true,
        description = {"Add a user to a password file, or change a user's password.",
                "The password is stored as a salted PBKDF2-HMAC-SHA256 hash, or with --scram as",
                "SCRAM-SHA-256 StoredKey/ServerKey (MQTT 5 enhanced authentication and plain",
                "logins both work with it); existing lines (including Moquette's",
                "user:sha256hex ones) are kept."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:user added or changed", "1:error (message on standard error)"})
public final class PasswdCommand implements Runnable, IExitCodeGenerator {

    @Parameters(index = "0", paramLabel = "FILE", description = "password file (created if missing, mode 600)")
    Path file;

    @Parameters(index = "1", paramLabel = "USER", description = "user name")
    String user;

    @Option(names = "--password-stdin", description = "read the password as one line from standard input")
    boolean passwordStdin;

    @Option(names = "--iterations", paramLabel = "N", defaultValue = "" + PasswordHash.DEFAULT_ITERATIONS,
            description = "PBKDF2 iterations (default: ${DEFAULT-VALUE})")
    int iterations;

    @Option(names = "--scram", description = "store a SCRAM-SHA-256 entry (also serves plain user name/password logins)")
    boolean scram;

    @Spec
    CommandSpec spec;

    private final InputStream stdin;
    private final Console console;
    private int exitCode;

    /** Reads from the process's terminal or standard input. */
    public PasswdCommand() {
        this(System.in, System.console());
    }

    /** For tests and embedding: the password comes from {@code stdin}; a null console means "not a terminal". */
    public PasswdCommand(InputStream stdin, Console console) {
        this.stdin = stdin;
        this.console = console;
    }

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        exitCode = 1;
        String problem = PasswordFile.invalidUserName(user);
        if (problem != null) {
            err.println("passwd: " + problem);
            return;
        }
        int minIterations = scram ? ScramCredentials.MIN_ITERATIONS : PasswordHash.MIN_ITERATIONS;
        if (iterations < minIterations) {
            err.println("passwd: --iterations must be at least " + minIterations + (scram ? " for --scram (RFC 7677)" : ""));
            return;
        }
        char[] password = null;
        try {
            password = readPassword(err);
            if (password == null) {
                return;
            }
            PasswordHash hash = scram ? PasswordHash.scram(password, iterations) : PasswordHash.pbkdf2(password, iterations);
            boolean added = PasswordFile.setUser(file, user, hash);
            out.println((added ? "added user '" : "changed password of user '") + user + "' in " + file.toAbsolutePath());
            exitCode = 0;
        } catch (IOException e) {
            err.println("passwd: cannot update " + file.toAbsolutePath() + ": " + e);
        } finally {
            if (password != null) {
                Arrays.fill(password, '\0');
            }
        }
    }

    private char[] readPassword(PrintWriter err) throws IOException {
        if (console != null && !passwordStdin) {
            char[] first = console.readPassword("Password for %s: ", user);
            char[] second = first == null ? null : console.readPassword("Repeat password: ");
            try {
                if (first == null || second == null) {
                    err.println("passwd: no password given");
                    return null;
                }
                if (!Arrays.equals(first, second)) {
                    err.println("passwd: the passwords differ; nothing changed");
                    return null;
                }
            } finally {
                if (second != null) {
                    Arrays.fill(second, '\0');
                }
            }
            if (first.length == 0) {
                err.println("passwd: the password is empty; nothing changed");
                return null;
            }
            return first;
        }
        BufferedReader reader = new BufferedReader(new InputStreamReader(stdin, StandardCharsets.UTF_8));
        String line = reader.readLine();
        if (line != null && line.endsWith("\r")) {
            line = line.substring(0, line.length() - 1);
        }
        if (line == null || line.isEmpty()) {
            err.println("passwd: no password on standard input; nothing changed");
            return null;
        }
        return line.toCharArray();
    }

    @Override
    public int getExitCode() {
        return exitCode;
    }
}
