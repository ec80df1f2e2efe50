package io.durablemq.broker.tls;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.BrokerConfigException;
import io.durablemq.broker.config.TlsSettings;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real TLS handshakes over loopback against key stores made by the JDK's keytool. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SslContextsTest {

    @TempDir
    static Path dir;

    static Path serverP12;
    static Path serverJks;
    static Path clientP12;
    static Path trustP12;
    static Path clientTrust;
    static EventLoopGroup group;

    @BeforeAll
    static void makeKeyStores() throws Exception {
        serverP12 = dir.resolve("server.p12");
        serverJks = dir.resolve("server.jks");
        clientP12 = dir.resolve("client.p12");
        trustP12 = dir.resolve("trust.p12");
        clientTrust = dir.resolve("client-trust.p12");
        keytool("-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
                "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2", "-storetype", "PKCS12",
                "-keystore", serverP12.toString(), "-storepass", "serverpass");
        keytool("-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
                "-validity", "2", "-storetype", "JKS", "-keystore", serverJks.toString(), "-storepass", "storepass",
                "-keypass", "keypass");
        keytool("-genkeypair", "-alias", "client", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=device-1",
                "-validity", "2", "-storetype", "PKCS12", "-keystore", clientP12.toString(), "-storepass", "clientpass");
        // Trust stores hold just the peer's certificate; built in-process to save keytool runs.
        trustStore(clientP12, "clientpass", "client", trustP12, "trustpass");
        trustStore(serverP12, "serverpass", "server", clientTrust, "ctrust");
        group = new NioEventLoopGroup(1);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    private static void trustStore(Path from, String password, String alias, Path to, String toPassword)
            throws Exception {
        KeyStore source = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(from)) {
            source.load(in, password.toCharArray());
        }
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry(alias, source.getCertificate(alias));
        try (var out = Files.newOutputStream(to)) {
            trust.store(out, toPassword.toCharArray());
        }
    }

    private static void keytool(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.add("-J-XX:TieredStopAtLevel=1"); // a short-lived JVM: skip the optimising compiler
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "keytool hung");
        assertEquals(0, p.exitValue(), "keytool " + String.join(" ", args) + ": " + out);
    }

    /** A TLS echo server on a free loopback port. */
    private static Channel echoServer(SslContext ctx) throws InterruptedException {
        return new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(ctx.newHandler(ch.alloc()), new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext c, Object msg) {
                                c.writeAndFlush(msg);
                            }
                        });
                    }
                }).bind("127.0.0.1", 0).sync().channel();
    }

    private static SSLContext client(Path keyStore, String password) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(clientTrust)) {
            trust.load(in, "ctrust".toCharArray());
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        KeyManagerFactory kmf = null;
        if (keyStore != null) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(keyStore)) {
                ks.load(in, password.toCharArray());
            }
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, password.toCharArray());
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }

    /** Handshake and one echoed byte; returns the negotiated protocol. */
    private static String roundTrip(Channel server, SSLContext client) throws IOException {
        int port = ((InetSocketAddress) server.localAddress()).getPort();
        try (SSLSocket s = (SSLSocket) client.getSocketFactory().createSocket("127.0.0.1", port)) {
            s.setSoTimeout(5_000);
            s.startHandshake();
            s.getOutputStream().write(42);
            s.getOutputStream().flush();
            int echoed = s.getInputStream().read();
            if (echoed != 42) {
                throw new IOException("no echo: " + echoed);
            }
            return s.getSession().getProtocol();
        }
    }

    @Test
    void pkcs12ServerWithoutClientAuth() throws Exception {
        SslContext ctx = SslContexts.serverContext(new TlsSettings(serverP12, "pkcs12", "serverpass", null, false,
                null, null));
        Channel server = echoServer(ctx);
        try {
            assertEquals("TLSv1.3", roundTrip(server, client(null, null)));
        } finally {
            server.close().sync();
        }
    }

    @Test
    void jksServerWithSeparateKeyPassword() throws Exception {
        TlsSettings tls = new TlsSettings(serverJks, "jks", "storepass", "keypass", false, null, null);
        Channel server = echoServer(SslContexts.serverContext(tls));
        try {
            // the client trusts only the PKCS12 server's certificate: this handshake must fail
            assertThrows(IOException.class, () -> roundTrip(server, client(null, null)));
        } finally {
            server.close().sync();
        }
        String msg = assertThrows(BrokerConfigException.class, () -> SslContexts.serverContext(
                new TlsSettings(serverJks, "jks", "storepass", "wrong", false, null, null))).getMessage();
        assertTrue(msg.startsWith("key_manager_password: cannot unlock the private key in " + serverJks), msg);
    }

    @Test
    void clientCertificateRequiredWhenNeedClientAuth() throws Exception {
        TlsSettings tls = new TlsSettings(serverP12, "pkcs12", "serverpass", null, true, trustP12, "trustpass");
        Channel server = echoServer(SslContexts.serverContext(tls));
        try {
            roundTrip(server, client(clientP12, "clientpass"));
            assertThrows(IOException.class, () -> roundTrip(server, client(null, null)),
                    "a client without a certificate must be refused");
        } finally {
            server.close().sync();
        }
    }

    @Test
    void clientAuthTrustsTheKeyStoreWhenNoTrustStoreIsGiven() throws Exception {
        // Moquette's behaviour: the key store doubles as trust store. It trusts only the server's own
        // certificate here, so the device's certificate is refused.
        TlsSettings tls = new TlsSettings(serverP12, "pkcs12", "serverpass", null, true, null, null);
        Channel server = echoServer(SslContexts.serverContext(tls));
        try {
            assertThrows(IOException.class, () -> roundTrip(server, client(clientP12, "clientpass")));
        } finally {
            server.close().sync();
        }
    }

    @Test
    void errorsNameTheKeyToFix() {
        String wrong = assertThrows(BrokerConfigException.class, () -> SslContexts.serverContext(
                new TlsSettings(serverP12, "pkcs12", "nope", null, false, null, null))).getMessage();
        assertEquals("key_store_password: wrong password for " + serverP12, wrong);

        Path missing = dir.resolve("missing.p12");
        assertEquals("jks_path: file not found: " + missing, assertThrows(BrokerConfigException.class,
                () -> SslContexts.serverContext(new TlsSettings(missing, "pkcs12", "x", null, false, null, null)))
                .getMessage());

        assertEquals("jks_path: " + trustP12 + " holds no private key (a server needs a key entry, not only trusted "
                        + "certificates)", assertThrows(BrokerConfigException.class, () -> SslContexts.serverContext(
                new TlsSettings(trustP12, "pkcs12", "trustpass", null, false, null, null))).getMessage());

        assertEquals("trust_store_password: wrong password for " + trustP12, assertThrows(BrokerConfigException.class,
                () -> SslContexts.serverContext(new TlsSettings(serverP12, "pkcs12", "serverpass", null, true, trustP12,
                        "bad"))).getMessage());

        Path garbage = dir.resolve("garbage.p12");
        assertThrows(BrokerConfigException.class, () -> {
            Files.writeString(garbage, "not a key store");
            SslContexts.serverContext(new TlsSettings(garbage, "pkcs12", "x", null, false, null, null));
        });
    }

    @Test
    void configFileKeysReachTheTlsSettings() throws Exception {
        Path conf = dir.resolve("tls.conf");
        Files.write(conf, List.of("ssl_port 0", "jks_path server.p12", "key_store_type pkcs12",
                "key_store_password serverpass", "need_client_auth true", "trust_store_path trust.p12",
                "trust_store_password trustpass"));
        BrokerConfig c = BrokerConfig.load(conf);
        Channel server = echoServer(SslContexts.serverContext(c.tls()));
        try {
            roundTrip(server, client(clientP12, "clientpass"));
        } finally {
            server.close().sync();
        }
    }
}
