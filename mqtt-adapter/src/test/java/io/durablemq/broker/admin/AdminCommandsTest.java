package io.durablemq.broker.admin;

import io.durablemq.broker.Main;
import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.message.MessageCodec;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Keys;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.store.StoreColumn;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.WriteBatch;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code durablemq verify} and {@code durablemq repair} through {@link Main}'s command line, on a real store. */
@Timeout(120)
class AdminCommandsTest {
    @TempDir
    Path dir;

    private record Result(int exit, String out, String err) {
    }

    private static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }

    @Test
    void verifyRepairVerifyOnAStoreWithAnOrphanBody() throws Exception {
        Path data = dir.resolve("data");
        Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close();

        Result healthy = run("verify", data.toString());
        assertEquals(0, healthy.exit(), healthy.out() + healthy.err());
        assertTrue(healthy.out().contains(": OK"), healthy.out());
        Result json = run("verify", "--json", data.toString());
        assertEquals(0, json.exit());
        assertTrue(json.out().contains("\"ok\": true"), json.out());

        // A body no entry references: something a correct engine never leaves behind.
        try (Store store = Store.open(data, Durability.FSYNC); WriteBatch b = new WriteBatch()) {
            b.put(store.handle(StoreColumn.MESSAGES), Keys.message(77), MessageCodec.encode(Message.of("t", new byte[5], 1)));
            store.write(b);
        }
        Result damaged = run("verify", data.toString());
        assertEquals(1, damaged.exit(), damaged.out());
        assertTrue(damaged.out().contains("DAMAGED") && damaged.out().contains("message bodies no entry references"),
                damaged.out());

        Result repaired = run("repair", "--durability", "fsync", data.toString());
        assertEquals(0, repaired.exit(), repaired.out() + repaired.err());
        assertTrue(repaired.out().contains("1 message bodies no remaining entry references"), repaired.out());
        try (Stream<Path> siblings = Files.list(dir)) {
            assertEquals(1, siblings.filter(p -> p.getFileName().toString().startsWith("data.bak-")).count());
        }
        try (Stream<Path> files = Files.list(data)) {
            assertEquals(1, files.filter(p -> p.getFileName().toString().startsWith("repair-report-")).count());
        }
        assertEquals(0, run("verify", data.toString()).exit());
        Engine.open(EngineConfig.defaults(data), new SimpleMeterRegistry()).close();
    }

    @Test
    void usageErrorsExitTwo() {
        assertEquals(2, run("verify").exit());
        assertEquals(2, run("verify", dir.resolve("missing").toString()).exit());
        assertEquals(2, run("repair", "--durability", "sometimes", dir.toString()).exit());
    }

    @Test
    void repairRefusesAFolderThatIsNotAStore() {
        Result r = run("repair", dir.toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("is not a DurableMQ store"), r.err());
    }
}
