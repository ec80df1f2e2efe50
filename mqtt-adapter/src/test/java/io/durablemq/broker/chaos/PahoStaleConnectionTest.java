package io.durablemq.broker.chaos;

import io.durablemq.broker.BrokerServer;
import io.durablemq.broker.TestBrokers;
import io.durablemq.engine.SessionSnapshot;
import org.eclipse.paho.client.mqttv3.MqttAsyncClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The harness's {@link PahoClients#connect} returns only with a connection the broker holds: a
 * Paho client that says it is connected while the broker has its session offline (here: the
 * broker's side of the TCP connection closed and the client's side left open, so Paho notices
 * nothing) is closed and connected again. Before, such a client came back from {@code connect} at
 * once ({@code REASON_CODE_CLIENT_CONNECTED}), and PowerCutIT counted member g-2 online for the
 * final drain although the broker never saw it again (LOST 1,057, all of them in the store).
 * With {@code keepLive} (cluster runs) a client Paho reports connected is left as it is.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PahoStaleConnectionTest {
    @TempDir
    Path work;

    @Test
    void aClientPahoCallsConnectedButTheBrokerDoesNotHoldIsConnectedAgain() throws Exception {
        BrokerServer broker = TestBrokers.start(TestBrokers.config(work.resolve("data")));
        try (HalfOpenProxy proxy = new HalfOpenProxy(broker.mqttPort())) {
            MqttAsyncClient client = PahoClients.create(proxy.uri(), "stale-1", Files.createDirectories(work.resolve("paho")));
            try {
                PahoClients.connect(client, proxy.uri(), 100);
                assertTrue(ClusterWorkload.await(() -> online(broker, "stale-1"), 10_000), "the broker holds the first connection");
                proxy.cutBrokerSide();
                assertTrue(ClusterWorkload.await(() -> !online(broker, "stale-1"), 10_000), "the broker saw the connection end");
                assertTrue(client.isConnected(), "Paho did not notice: its side of the socket is still open");

                int staleBefore = PahoClients.STALE_CONNECTIONS.get();
                PahoClients.connect(client, proxy.uri(), 100); // as after a broker restart
                assertTrue(ClusterWorkload.await(() -> online(broker, "stale-1"), 10_000),
                        "connect returned, so the broker must hold a connection of this client again");
                assertEquals(staleBefore + 1, PahoClients.STALE_CONNECTIONS.get(), "the stale connection was counted");
            } finally {
                client.disconnectForcibly(0, 1_000, false);
                client.close(true);
            }
        } finally {
            broker.close();
        }
    }

    @Test
    void withKeepLiveAConnectedClientIsLeftAsItIs() throws Exception {
        BrokerServer broker = TestBrokers.start(TestBrokers.config(work.resolve("data")));
        try {
            String uri = TestBrokers.tcpUri(broker);
            MqttAsyncClient client = PahoClients.create(uri, "live-1", Files.createDirectories(work.resolve("paho")));
            try {
                PahoClients.connect(client, uri, 100);
                int staleBefore = PahoClients.STALE_CONNECTIONS.get();
                PahoClients.connect(client, uri, 100, true);
                assertTrue(client.isConnected());
                assertEquals(staleBefore, PahoClients.STALE_CONNECTIONS.get(), "a live connection is not replaced");
            } finally {
                client.disconnectForcibly(0, 1_000, false);
                client.close(true);
            }
        } finally {
            broker.close();
        }
    }

    private static boolean online(BrokerServer broker, String clientId) {
        SessionSnapshot s = broker.engine().session(clientId);
        return s != null && s.online();
    }


    /**
     * A loopback TCP proxy to the broker whose {@link #cutBrokerSide} closes the broker's side of
     * every connection and leaves the client's side open, swallowing what the client sends: a
     * half-open connection, which the broker sees end and the client does not.
     */
    private static final class HalfOpenProxy implements AutoCloseable {
        /** One proxied connection; {@code halfOpen} once its broker side was closed by {@link #cutBrokerSide}. */
        private static final class Pair {
            final Socket client;
            final Socket broker;
            volatile boolean halfOpen;

            Pair(Socket client, Socket broker) {
                this.client = client;
                this.broker = broker;
            }
        }

        private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        private final List<Pair> pairs = new CopyOnWriteArrayList<>();

        HalfOpenProxy(int brokerPort) throws IOException {
            Thread acceptor = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket c = server.accept();
                        Pair p = new Pair(c, new Socket(InetAddress.getLoopbackAddress(), brokerPort));
                        pairs.add(p);
                        pump(p, p.client, p.broker);
                        pump(p, p.broker, p.client);
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "half-open-proxy");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        String uri() {
            return "tcp://127.0.0.1:" + server.getLocalPort();
        }

        /** The connections open now: their broker side closes, their client side stays open and is read and ignored. */
        void cutBrokerSide() {
            for (Pair p : pairs) {
                p.halfOpen = true;
                close(p.broker);
            }
        }

        private static void pump(Pair p, Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[8192];
                try {
                    InputStream in = from.getInputStream();
                    OutputStream out = to.getOutputStream();
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                        if (!p.halfOpen) {
                            out.write(buf, 0, n);
                            out.flush();
                        }
                    }
                } catch (IOException e) {
                    // a side closed
                }
                if (!p.halfOpen) {
                    close(p.client);
                    close(p.broker);
                }
            }, "half-open-pump");
            t.setDaemon(true);
            t.start();
        }

        private static void close(Socket s) {
            try {
                s.close();
            } catch (IOException ignored) {
                // already closed
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Pair p : pairs) {
                close(p.client);
                close(p.broker);
            }
        }
    }
}
