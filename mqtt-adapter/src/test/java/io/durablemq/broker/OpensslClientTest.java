package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.TlsSettings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real TLS handshakes with {@code openssl s_client} (not the JDK's TLS stack on both ends): a test
 * CA made with openssl signs the server and a client certificate; an MQTT CONNECT goes over the
 * TLS connection as raw bytes and the CONNACK bytes must come back. With {@code need_client_auth}
 * a client without a certificate gets no CONNACK, one with a CA-signed certificate does.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OpensslClientTest {
    private static final String PASSWORD = "changeit";
    /** CONNECT, MQTT 3.1.1, clean session, keep-alive 60, client id "ossl". */
    private static final byte[] CONNECT = {0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C,
            0x00, 0x04, 'o', 's', 's', 'l'};
    private static final byte[] CONNACK_ACCEPTED = {0x20, 0x02, 0x00, 0x00};

    @TempDir
    Path dir;
    BrokerServer broker;

    @BeforeEach
    void certificates() throws Exception {
        Assumptions.assumeTrue(run(List.of("openssl", "version"), null).exit == 0, "openssl not installed");
        Files.writeString(dir.resolve("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\n");
        ok("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=DurableMQ test CA", "-days", "2");
        for (String who : List.of("server", "client")) {
            ok("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", who + ".key", "-out", who + ".csr", "-subj", "/CN=" + (who.equals("server") ? "localhost" : "device-1"));
            ok("openssl", "x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", who + ".pem", "-days", "2", "-extfile", who + ".ext");
        }
        ok("openssl", "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
                "-name", "server", "-out", "server.p12", "-passout", "pass:" + PASSWORD);
        ok(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-importcert", "-noprompt",
                "-alias", "ca", "-file", "ca.pem", "-keystore", "trust.p12", "-storetype", "PKCS12",
                "-storepass", PASSWORD);
    }

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private void startBroker(boolean needClientAuth) throws Exception {
        BrokerConfig config = TestBrokers.config(dir.resolve("data")).toBuilder()
                .sslPort(0)
                .tls(new TlsSettings(dir.resolve("server.p12"), "pkcs12", PASSWORD, PASSWORD, needClientAuth,
                        dir.resolve("trust.p12"), PASSWORD))
                .build();
        broker = TestBrokers.start(config);
    }

    @Test
    void connectOverTlsWithOpensslClient() throws Exception {
        startBroker(false);
        Result r = sClient(List.of());
        assertArrayEquals(CONNACK_ACCEPTED, r.head(4), "CONNACK over TLS; openssl said: " + r.err);
    }

    @Test
    void clientCertificateRequired() throws Exception {
        startBroker(true);
        Result without = sClient(List.of());
        assertFalse(Arrays.equals(CONNACK_ACCEPTED, without.head(4)), "no CONNACK without a client certificate");
        // Usually the broker's alert reaches openssl ("alert certificate required"). When the broker has closed
        // before openssl writes the CONNECT, the kernel answers that write with a reset, which can discard the
        // unread alert: openssl then reports only "errno=104". Either way it must say it failed.
        String said = without.err.toLowerCase();
        assertTrue(said.contains("alert") || said.contains("error") || said.contains("errno="),
                "openssl reports the refused handshake: " + without.err);

        Result with = sClient(List.of("-cert", "client.pem", "-key", "client.key"));
        assertArrayEquals(CONNACK_ACCEPTED, with.head(4), "CONNACK with a CA-signed client certificate; openssl said: "
                + with.err);
    }

    /**
     * Runs {@code openssl s_client} against the TLS port, writes CONNECT once the handshake is
     * done (s_client sends stdin then) and collects what comes back until 4 bytes arrived, the
     * server closed, or 15 s passed.
     */
    private Result sClient(List<String> extra) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + broker.sslPort(),
                "-quiet", "-CAfile", "ca.pem", "-verify_return_error", "-servername", "localhost"));
        cmd.addAll(extra);
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).start();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Thread errReader = new Thread(() -> copy(p.getErrorStream(), err));
        errReader.start();
        OutputStream stdin = p.getOutputStream();
        stdin.write(CONNECT);
        stdin.flush(); // stdin stays open: with EOF s_client would end the session before the answer
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread outReader = new Thread(() -> {
            try {
                InputStream in = p.getInputStream();
                int b;
                while (out.size() < 4 && (b = in.read()) >= 0) {
                    synchronized (out) {
                        out.write(b);
                    }
                }
            } catch (IOException e) {
                // process ended
            }
        });
        outReader.start();
        outReader.join(15_000);
        p.destroy();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "openssl ended");
        errReader.join(5_000);
        synchronized (out) {
            return new Result(p.exitValue(), out.toByteArray(), err.toString(StandardCharsets.UTF_8));
        }
    }

    private record Result(int exit, byte[] out, String err) {
        byte[] head(int n) {
            return Arrays.copyOf(out, Math.min(n, out.length));
        }
    }

    private static void copy(InputStream in, ByteArrayOutputStream to) {
        try {
            in.transferTo(to);
        } catch (IOException e) {
            // process ended
        }
    }

    private void ok(String... cmd) throws Exception {
        Result r = run(List.of(cmd), dir);
        assertEquals(0, r.exit, String.join(" ", cmd) + ": " + r.err);
    }

    private static Result run(List<String> cmd, Path in) throws Exception {
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            if (in != null) {
                pb.directory(in.toFile());
            }
            Process p = pb.start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            return new Result(p.exitValue(), new byte[0], out);
        } catch (IOException e) {
            return new Result(-1, new byte[0], e.toString());
        }
    }
}
