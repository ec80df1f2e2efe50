package io.durablemq.engine.check;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Semaphore;

/**
 * Not a test: a measurement of {@code durablemq verify} on a store of N queued QoS 1 messages,
 * built through the engine's API like RecoveryBenchmark's (offline persistent sessions, one topic
 * each, 256-byte payloads). Run from the engine module:
 * {@code java -cp target/test-classes:target/classes:$(cat /tmp/cp) io.durablemq.engine.check.VerifyTimeProbe DIR 1000000 1000}
 */
public final class VerifyTimeProbe {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long messages = Long.parseLong(args[1]);
        int sessions = Integer.parseInt(args[2]);
        if (!Files.exists(dir.resolve("CURRENT"))) {
            long t0 = System.nanoTime();
            try (Engine engine = Engine.open(EngineConfig.defaults(dir).withDurability(Durability.OS), new SimpleMeterRegistry())) {
                for (int s = 0; s < sessions; s++) {
                    SessionHandle h = EngineFixture.await(engine.connect(
                            new ConnectRequest("offline-" + s, false, 86_400, 65_535), new RecordingListener()));
                    EngineFixture.await(h.subscribe(List.of(Subscription.of("v/" + s, 1))));
                    EngineFixture.await(h.disconnect(-1));
                }
                SessionHandle pub = EngineFixture.await(engine.connect(
                        new ConnectRequest("pub", true, 0, 65_535), new RecordingListener()));
                Semaphore window = new Semaphore(2_000);
                byte[] payload = new byte[256];
                for (long i = 0; i < messages; i++) {
                    window.acquire();
                    pub.publish((int) (i % 65_535) + 1, Message.of("v/" + (i % sessions), payload, 1))
                            .whenComplete((r, e) -> window.release());
                }
                window.acquire(2_000);
                EngineFixture.await(pub.disconnect(0));
            }
            System.out.printf("filled %,d messages in %.1f s%n", messages, (System.nanoTime() - t0) / 1e9);
        }
        for (int run = 0; run < 3; run++) {
            VerifyReport r = StoreVerifier.verify(dir);
            System.out.printf("verify run %d: ok=%s queued=%,d bodies=%,d in %.2f s%n", run, r.ok(),
                    r.inventory().queued(), r.inventory().bodies(), r.duration().toNanos() / 1e9);
            if (!r.ok()) {
                System.out.println(r.toText());
            }
        }
        for (int run = 0; run < 3; run++) {
            try (Engine engine = Engine.open(EngineConfig.defaults(dir), new SimpleMeterRegistry())) {
                System.out.printf("engine recovery run %d: %s%n", run, engine.recoveryReport());
            }
        }
    }
}
