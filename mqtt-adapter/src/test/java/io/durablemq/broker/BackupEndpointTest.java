package io.durablemq.broker;

import io.durablemq.broker.admin.BackupCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /admin/backup} on a running broker's metrics port: only POST writes a backup (into
 * backup_dir, under a validated name), refusals say why and write nothing, the result is
 * counted, and {@code durablemq backup} drives it from the command line.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BackupEndpointTest {
    @TempDir
    Path work;

    @Test
    void onlyPostWithAPlainNameWritesABackup() throws Exception {
        Path data = work.resolve("data");
        Path backups = work.resolve("data-backups");
        try (BrokerServer broker = AdminHttp.startWithMetrics(TestBrokers.config(data))) {
            assertEquals(backups.toAbsolutePath(), broker.config().backupDir().toAbsolutePath(),
                    "default backup_dir is next to the data folder");
            try (PahoV3 pub = PahoV3.connect(TestBrokers.tcpUri(broker), "http-pub", true)) {
                pub.publishRetained("state/x", "kept", 1);
            }

            HttpResponse<String> get = AdminHttp.send("GET", AdminHttp.uri(broker, "/admin/backup"));
            assertEquals(405, get.statusCode(), get.body());
            assertEquals("POST", get.headers().firstValue("Allow").orElse(""));

            for (String bad : new String[] {"?name=..", "?name=.", "?name=a%2Fb", "?name=", "?name=a%20b",
                    "?other=x", "?name=a&name=b"}) {
                HttpResponse<String> r = AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/backup" + bad));
                assertEquals(400, r.statusCode(), bad + " -> " + r.body());
                assertTrue(r.body().contains("\"reason\":\"BAD_REQUEST\""), r.body());
            }
            assertEquals(404, AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/backup/x")).statusCode());
            assertFalse(Files.exists(backups), "refused requests wrote nothing");

            HttpResponse<String> ok = AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/backup?name=first.1"));
            assertEquals(200, ok.statusCode(), ok.body());
            Path first = backups.resolve("first.1").toAbsolutePath();
            assertTrue(ok.body().contains("\"path\":\"" + first + "\""), ok.body());
            assertTrue(ok.body().matches("(?s).*\"files\":[1-9][0-9]*,\"bytes\":[1-9][0-9]*.*"), ok.body());
            assertTrue(Files.exists(first.resolve("CURRENT")), "a RocksDB store");

            HttpResponse<String> again = AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/backup?name=first.1"));
            assertEquals(409, again.statusCode(), again.body());
            assertTrue(again.body().contains("TARGET_EXISTS") && again.body().contains("already exists"), again.body());

            HttpResponse<String> unnamed = AdminHttp.send("POST", AdminHttp.uri(broker, "/admin/backup"));
            assertEquals(200, unnamed.statusCode(), unnamed.body());
            assertTrue(unnamed.body().contains("/backup-"), "default name backup-<UTC time>: " + unnamed.body());

            String metrics = AdminHttp.send("GET", AdminHttp.uri(broker, "/metrics")).body();
            assertTrue(metrics.contains("durablemq_backups_total{result=\"success\"} 2.0"), metrics);
            assertTrue(metrics.contains("durablemq_backups_total{result=\"refused\"} 8.0"), metrics);
            assertTrue(metrics.contains("durablemq_backup_last_bytes "), metrics);
            assertTrue(metrics.contains("durablemq_backup_last_duration_seconds "), metrics);
        }
        // The backup is a store a broker starts on: the retained message is there.
        try (BrokerServer restored = TestBrokers.start(TestBrokers.config(backups.resolve("first.1")));
             PahoV3 sub = PahoV3.connect(TestBrokers.tcpUri(restored), "http-sub", true)) {
            sub.client.subscribe("state/#", 1);
            PahoV3.Received r = sub.next(10_000);
            assertEquals("kept", r == null ? null : r.payload());
        }
    }

    @Test
    void backupCommandPrintsTheResultOrTheBrokersReason() throws Exception {
        try (BrokerServer broker = AdminHttp.startWithMetrics(TestBrokers.config(work.resolve("data")))) {
            String url = "http://127.0.0.1:" + broker.metricsPort();
            Run ok = run("--metrics-url", url, "--name", "from-cli");
            assertEquals(0, ok.code, ok.err);
            assertTrue(ok.out.contains(work.resolve("data-backups/from-cli").toAbsolutePath().toString()), ok.out);

            Run exists = run("--metrics-url", url + "/", "--name", "from-cli");
            assertEquals(1, exists.code);
            assertTrue(exists.err.contains("409") && exists.err.contains("already exists"), exists.err);
        }
        Run down = run("--metrics-url", "http://127.0.0.1:" + TestBrokers.freePort());
        assertEquals(1, down.code);
        assertTrue(down.err.contains("cannot reach the broker"), down.err);
    }

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new BackupCommand());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }
}
