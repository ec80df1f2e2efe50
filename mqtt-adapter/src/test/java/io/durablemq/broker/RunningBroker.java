package io.durablemq.broker;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A broker on loopback with its data in a fresh folder, started before each test and closed
 * after it: {@code @RegisterExtension final RunningBroker broker = new RunningBroker();}. It runs
 * after the test's own {@code @AfterEach} methods (JUnit's order), so a test may close its clients
 * there while the broker still listens.
 */
public final class RunningBroker implements BeforeEachCallback, AfterEachCallback {
    private Path data;
    private BrokerServer server;

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        data = Files.createTempDirectory("durablemq-test-");
        server = TestBrokers.start(TestBrokers.config(data));
    }

    @Override
    public void afterEach(ExtensionContext context) throws IOException {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            server = null;
            deleteTree(data);
        }
    }

    public BrokerServer server() {
        return server;
    }

    public int mqttPort() {
        return server.mqttPort();
    }

    public String tcpUri() {
        return TestBrokers.tcpUri(server);
    }

    /** Closes the broker gracefully and starts a new one on the same data folder. */
    public void restart() throws Exception {
        BrokerServer old = server;
        server = null; // a failed start must not close the old broker twice
        old.close();
        server = TestBrokers.start(TestBrokers.config(data));
    }

    private static void deleteTree(Path root) throws IOException {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
