package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.nio.file.Path;
import java.util.function.UnaryOperator;

/**
 * A cluster node's service in tests: just the engine, opened on the node's data folder while it serves,
 * committing through the node's batch log (or a test's wrapper around it, to watch what it is given).
 */
final class EngineService implements ClusterNode.Service {
    private final Path dataPath;
    private final UnaryOperator<BatchLog> batchLogWrapper;
    private volatile Engine engine;

    EngineService(Path dataPath) {
        this(dataPath, UnaryOperator.identity());
    }

    EngineService(Path dataPath, UnaryOperator<BatchLog> batchLogWrapper) {
        this.dataPath = dataPath;
        this.batchLogWrapper = batchLogWrapper;
    }

    static EngineConfig config(Path dataPath) {
        return EngineConfig.defaults(dataPath).withDurability(Durability.OS);
    }

    @Override
    public void start(BatchLog batchLog, Store store, Runnable engineOpened) throws Exception {
        engine = Engine.open(config(dataPath), new SimpleMeterRegistry(), batchLogWrapper.apply(batchLog), store);
        engineOpened.run();
    }

    @Override
    public void stop() {
        Engine e = engine;
        engine = null;
        if (e != null) {
            e.close();
        }
    }

    Engine engine() {
        return engine;
    }
}
