package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.support.EngineFixture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A QoS 1 PUBLISH to an online subscriber goes out before its batch is written. With a body
 * cache far smaller than one message, the cache drops each body as soon as it is put, and the
 * store does not hold it yet: the early send must carry its message rather than look it up.
 * Every PUBLISH must reach every subscriber, and no send error is counted.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EarlySendBodyTest {
    @TempDir
    Path dir;

    @Test
    void earlyQos1SendsNeverDependOnTheBodyCache() {
        int messages = 200;
        int subscribers = 4;
        try (EngineFixture fx = new EngineFixture(dir, c -> c.withBodyCacheBytes(1024))) {
            List<EngineFixture.Connected> subs = new ArrayList<>();
            for (int i = 0; i < subscribers; i++) {
                EngineFixture.Connected s = fx.connect("sub-" + i, false, 3600);
                s.subscribe("big/#", 1);
                subs.add(s);
            }
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            List<CompletableFuture<?>> acks = new ArrayList<>();
            for (int n = 0; n < messages; n++) {
                byte[] payload = new byte[32 * 1024];
                ByteBuffer.wrap(payload).putInt(n);
                // Not awaited: publishes pile up behind the commit in progress, so sends run before their batch is written.
                acks.add(pub.handle().publish((n % 60_000) + 1, new Message("big/" + n, payload, 1, false, null, 0)));
            }
            for (CompletableFuture<?> a : acks) {
                await(a);
            }
            for (EngineFixture.Connected s : subs) {
                Set<Integer> got = new HashSet<>();
                while (got.size() < messages) {
                    OutboundPublish p = s.listener().nextPublish(); // fails after 10 s without one
                    got.add(ByteBuffer.wrap(p.message().payload()).getInt());
                    await(s.handle().puback(p.packetId()));
                }
                assertEquals(messages, got.size());
            }
            assertEquals(0.0, fx.counter("durablemq.internal.errors", "where", "send"), "no send failed");
        }
    }
}
