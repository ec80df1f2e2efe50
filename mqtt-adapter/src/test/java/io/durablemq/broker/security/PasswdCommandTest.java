package io.durablemq.broker.security;

import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.security.scram.ScramCredentials;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PasswdCommandTest {

    @TempDir
    Path dir;

    private record Result(int exit, String out, String err) { }

    private Result run(String stdin, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new PasswdCommand(
                new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)), null));
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }

    @Test
    void addsThenChangesAUserKeepingOtherLines() throws Exception {
        Path f = dir.resolve("passwd");
        String legacy = "legacy:" + PasswordHash.Sha256Hex.of("x".getBytes(StandardCharsets.UTF_8)).encoded();
        Files.write(f, List.of("# operators", legacy, "", "# end"));

        Result added = run("first-secret\n", f.toString(), "alice", "--iterations", "1000");
        assertEquals(0, added.exit(), added.err());
        assertTrue(added.out().contains("added user 'alice'"), added.out());
        List<String> lines = Files.readAllLines(f);
        assertEquals(List.of("# operators", legacy, "", "# end"), lines.subList(0, 4));
        assertTrue(lines.get(4).startsWith("alice:$pbkdf2-sha256$1000$"), lines.get(4));
        assertTrue(PasswordFile.read(f).get("alice").matches("first-secret".getBytes(StandardCharsets.UTF_8)));

        Result changed = run("second-secret\r\n", "--password-stdin", f.toString(), "alice", "--iterations", "1000");
        assertEquals(0, changed.exit(), changed.err());
        assertTrue(changed.out().contains("changed password of user 'alice'"), changed.out());
        lines = Files.readAllLines(f);
        assertEquals(5, lines.size());
        PasswordFile pf = PasswordFile.read(f);
        assertTrue(pf.get("alice").matches("second-secret".getBytes(StandardCharsets.UTF_8)));
        assertFalse(pf.get("alice").matches("first-secret".getBytes(StandardCharsets.UTF_8)));
        assertTrue(pf.get("legacy").matches("x".getBytes(StandardCharsets.UTF_8)));
        assertFalse(Files.exists(dir.resolve("passwd.tmp")));
    }

    @Test
    void newFileIsOwnerOnlyAndDefaultIsPbkdf2() throws Exception {
        Path f = dir.resolve("new-passwd");
        Result r = run("pw-1234\n", f.toString(), "bob");
        assertEquals(0, r.exit(), r.err());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        assertTrue(Files.readString(f).startsWith("bob:$pbkdf2-sha256$" + PasswordHash.DEFAULT_ITERATIONS + "$"));
    }

    @Test
    void refusesBadInput() {
        Path f = dir.resolve("p");
        Result empty = run("", f.toString(), "carol");
        assertEquals(1, empty.exit());
        assertTrue(empty.err().contains("no password on standard input"), empty.err());
        assertFalse(Files.exists(f));

        Result colon = run("pw\n", f.toString(), "a:b");
        assertEquals(1, colon.exit());
        assertTrue(colon.err().contains("must not contain ':'"), colon.err());

        Result usage = run("pw\n", f.toString());
        assertEquals(2, usage.exit(), "missing USER is a usage error");
    }

    @Test
    void scramEntryStoresKeysNotThePasswordAndServesPlainLoginsToo() throws Exception {
        Path f = dir.resolve("passwd");
        Result r = run("pencil\n", f.toString(), "user", "--scram", "--iterations", "4096");
        assertEquals(0, r.exit(), r.err());
        String line = Files.readAllLines(f).get(0);
        assertTrue(line.startsWith("user:$scram-sha-256$4096$"), line);
        PasswordFile pf = PasswordFile.read(f);
        assertTrue(pf.get("user").matches("pencil".getBytes(StandardCharsets.UTF_8)));
        assertFalse(pf.get("user").matches("pencil ".getBytes(StandardCharsets.UTF_8)));
        ScramCredentials stored = new PasswordAuthenticator(pf).find("user");
        assertEquals(ScramCredentials.fromPassword("pencil".toCharArray(), stored.salt(), 4096), stored);
        assertEquals(line.substring("user:".length()), PasswordHash.parse(line.substring("user:".length())).encoded());

        Result plain = run("other\n", f.toString(), "bob", "--iterations", "1000");
        assertEquals(0, plain.exit(), plain.err());
        assertEquals(null, new PasswordAuthenticator(PasswordFile.read(f)).find("bob"), "a PBKDF2 entry serves no SCRAM");

        Result weak = run("pencil\n", f.toString(), "user", "--scram", "--iterations", "1000");
        assertEquals(1, weak.exit());
        assertTrue(weak.err().contains("at least 4096"), weak.err());

        Files.writeString(f, "user:$scram-sha-256$4096$c2FsdHNhbHQ$AAAA$AAAA\n");
        BrokerConfigException e = assertThrows(BrokerConfigException.class, () -> PasswordFile.read(f));
        assertTrue(e.getMessage().contains(":1: user 'user'") && e.getMessage().contains("32 bytes"), e.getMessage());
    }
}
