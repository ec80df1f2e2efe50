package io.durablemq.broker;

import io.durablemq.broker.config.BrokerConfig;
import io.durablemq.broker.config.Limits;
import io.durablemq.engine.support.ListenPorts;

import java.io.IOException;
import java.nio.file.Path;

/** Brokers for tests: loopback, free ports, data in a JUnit temp folder. */
public final class TestBrokers {
    private TestBrokers() {
    }

    public static BrokerConfig config(Path dataDir) {
        return BrokerConfig.defaults().toBuilder()
                .port(0)
                .metricsPort(0)
                .dataPath(dataDir)
                .build();
    }

    public static BrokerConfig config(Path dataDir, Limits limits) {
        return config(dataDir).toBuilder().limits(limits).build();
    }

    public static BrokerServer start(BrokerConfig config) throws Exception {
        return BrokerServer.start(config);
    }

    public static String tcpUri(BrokerServer broker) {
        return "tcp://127.0.0.1:" + broker.mqttPort();
    }

    /** A port free right now, for listeners that cannot bind 0 (child processes, metrics): {@link ListenPorts#free()}. */
    public static int freePort() throws IOException {
        return ListenPorts.free();
    }
}
