package io.durablemq.engine.metrics;

import io.durablemq.engine.support.EngineFixture;
import io.micrometer.core.instrument.Timer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The engine's publish stages count each accepted QoS 1/2 publish once, QoS 0 never; batches once each. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StageTimersTest {
    @TempDir
    Path dir;

    @Test
    void routeAndCompletionCountEachQos1And2PublishAndBatchWaitCountsBatches() {
        try (EngineFixture fx = new EngineFixture(dir)) {
            EngineFixture.Connected sub = fx.connect("sub", true, 0);
            sub.subscribe("s/#", 2);
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "s/a", "one", 1);
            pub.publish(2, "s/b", "two", 2);
            pub.publish(0, "s/c", "zero", 0);
            assertEquals(2, timer(fx, "route").count());
            assertEquals(2, timer(fx, "completion").count());
            long batches = timer(fx, "batch_wait").count();
            assertTrue(batches >= 2, "each publish waited for its own commit: " + batches);
            assertEquals(0, timer(fx, "decode").count(), "decode is the broker's");
        }
    }

    /**
     * {@code deliver_wait} (the subscriber's side in the engine) counts each QoS 1/2 PUBLISH handed
     * to a subscriber once: the early QoS 1 send, the QoS 2 send after its commit and, after a
     * reconnect, each resend; a QoS 0 delivery never.
     */
    @Test
    void deliverWaitCountsEachQos1And2SendToASubscriberResendsIncluded() {
        try (EngineFixture fx = new EngineFixture(dir)) {
            EngineFixture.Connected sub = fx.connect("sub", true, 600);
            sub.subscribe("s/#", 2);
            EngineFixture.Connected pub = fx.connect("pub", true, 0);
            pub.publish(1, "s/a", "one", 1);
            pub.publish(2, "s/b", "two", 2);
            pub.publish(0, "s/c", "zero", 0);
            for (int i = 0; i < 3; i++) {
                sub.listener().nextPublish(); // recorded before the listener is called
            }
            assertEquals(2, timer(fx, "deliver_wait").count(), "one per QoS 1/2 delivery, none for QoS 0");
            assertEquals(0, timer(fx, "deliver").count(), "deliver is the broker's");

            sub.disconnect(); // neither acknowledged: both are resent
            EngineFixture.Connected again = fx.connect("sub", false, 600);
            assertTrue(again.listener().nextPublish().dup());
            assertTrue(again.listener().nextPublish().dup());
            assertEquals(4, timer(fx, "deliver_wait").count(), "the two resends counted too");
        }
    }

    private static Timer timer(EngineFixture fx, String stage) {
        return fx.meters().get(StageTimers.NAME).tag("stage", stage).timer();
    }
}
