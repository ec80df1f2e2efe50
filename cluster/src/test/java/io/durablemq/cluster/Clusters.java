package io.durablemq.cluster;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The cluster tests' set-up and tear-down: {@code @RegisterExtension final Clusters clusters = new Clusters();}
 * gives each test a fresh temporary folder for the {@link ClusterHarness}es it makes with {@link #of}, and
 * after the test closes every node they started (whether the test passed or not) and deletes the folder.
 */
final class Clusters implements BeforeEachCallback, AfterEachCallback {
    private final List<ClusterHarness> made = new ArrayList<>();
    private Path tmp;

    @Override
    public void beforeEach(ExtensionContext context) throws IOException {
        tmp = Files.createTempDirectory("durablemq-cluster-");
    }

    /** {@code size} nodes (not started) with {@code options}; each harness made in a test gets its own subfolder. */
    ClusterHarness of(int size, ClusterHarness.Options options) throws IOException {
        ClusterHarness harness = new ClusterHarness(Files.createDirectory(tmp.resolve("cluster" + made.size())), size, options);
        made.add(harness);
        return harness;
    }

    ClusterHarness of(int size) throws IOException {
        return of(size, ClusterHarness.Options.DEFAULT);
    }

    @Override
    public void afterEach(ExtensionContext context) throws IOException {
        made.forEach(ClusterHarness::close);
        made.clear();
        ClusterHarness.deleteTree(tmp);
    }
}
