package io.durablemq.engine;

import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.delivery.SubscriberBacklog;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The engine's side of back-pressure on a real store: an accepted publish names the online
 * subscriber with the longest queue, never the publisher's own session and never an offline
 * one, and {@link Engine#onlineQueuedMessages} answers a queue length or -1 once offline.
 */
class DeepestBacklogTest {
    @TempDir
    Path dir;
    EngineFixture fx;

    @BeforeEach
    void open() {
        fx = new EngineFixture(dir);
    }

    @AfterEach
    void close() {
        fx.close();
    }

    /** A subscriber whose window is one message and that never acknowledges: the rest queues. */
    private Connected slowSubscriber(String clientId, String filter) {
        Connected c = fx.connect(new ConnectRequest(clientId, false, 3600, 1));
        c.subscribe(filter, 1);
        return c;
    }

    @Test
    void namesTheOnlineSubscriberWithTheLongestQueue() {
        slowSubscriber("short", "a/+");
        slowSubscriber("long", "a/#");
        slowSubscriber("other", "b/#");
        Connected pub = fx.connect("pub", true, 0);
        pub.publish(1, "a/x/y", "only long", 1); // in long's window
        pub.publish(2, "a/x/y", "only long", 1); // queued at long
        PublishResult r = pub.publish(3, "a/x", "both", 1); // short: window; long: 2 queued
        assertEquals(new SubscriberBacklog("long", 2), r.deepestBacklog());
        assertEquals(2, fx.engine().onlineQueuedMessages("long"));
        assertEquals(0, fx.engine().onlineQueuedMessages("short"));
        assertEquals(-1, fx.engine().onlineQueuedMessages("nobody"));
    }

    @Test
    void neverNamesThePublishersOwnSessionNorAnOfflineOne() {
        Connected self = slowSubscriber("self", "t/#");
        for (int i = 1; i <= 3; i++) {
            assertNull(self.publish(i, "t/x", "to myself", 1).deepestBacklog(), "own session named");
        }
        assertEquals(2, fx.engine().onlineQueuedMessages("self"));

        Connected offline = slowSubscriber("away", "t/#");
        offline.disconnect();
        Connected pub = fx.connect("pub", true, 0);
        PublishResult r = pub.publish(1, "t/x", "to both", 1);
        assertEquals("self", r.deepestBacklog().clientId(), "the offline session is not named");
        assertEquals(-1, fx.engine().onlineQueuedMessages("away"));
        assertEquals(1, fx.engine().session("away").queuedMessages(), "its offline queue still fills");
    }

    @Test
    void aQos0PublishNamesNoBacklog() {
        slowSubscriber("sub", "q/#");
        Connected pub = fx.connect("pub", true, 0);
        assertNull(pub.publish(0, "q/x", "fire and forget", 0).deepestBacklog());
    }
}
