package io.durablemq.engine;

import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.support.RecordingListener;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static io.durablemq.engine.support.EngineFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A full disk: on a small tmpfs (needs root, as in CI), commits start failing; failed
 * publishes are refused, never acknowledged; the engine closes its connections, reopens the
 * store and recovers; once space is freed it accepts publishes again and every message it
 * had acknowledged is still there.
 */
class EngineResetTest {
    @TempDir
    Path tmp;
    Path mount;
    boolean mounted;

    @BeforeEach
    void mountTmpfs() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "mounting a tmpfs needs root");
        mount = Files.createDirectories(tmp.resolve("small"));
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount.toString())
                .redirectErrorStream(true).start();
        assumeTrue(p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0, "tmpfs mount not permitted here");
        mounted = true;
    }

    @AfterEach
    void unmount() throws Exception {
        if (mounted) {
            new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor(20, TimeUnit.SECONDS);
        }
    }

    @Test
    void fullDiskRefusesPublishesLosesNothingAndResumes() throws Exception {
        EngineConfig config = EngineConfig.defaults(mount.resolve("store")).withDurability(Durability.FSYNC);
        Engine engine = Engine.open(config, new SimpleMeterRegistry());
        try {
            SessionHandle sub = await(engine.connect(new ConnectRequest("sub", false, 3600, 100), new RecordingListener()));
            await(sub.subscribe(List.of(Subscription.of("t", 1))));
            await(sub.disconnect(-1));
            RecordingListener pubListener = new RecordingListener();
            SessionHandle pub = await(engine.connect(new ConnectRequest("pub", false, 3600, 100), pubListener));
            pub.startDelivery();

            Path filler = mount.resolve("filler");
            fill(filler, 12L * 1024 * 1024);

            byte[] payload = new byte[64 * 1024];
            Set<Integer> acknowledged = new HashSet<>();
            int refused = 0;
            for (int i = 0; i < 200 && refused == 0; i++) {
                payload[0] = (byte) i;
                try {
                    PublishResult r = pub.publish(i + 1, new Message("t", payload.clone(), 1, false, null, 0))
                            .get(30, TimeUnit.SECONDS);
                    assertEquals(PublishResult.Status.ACCEPTED, r.status());
                    acknowledged.add(i);
                } catch (ExecutionException e) {
                    refused++;
                }
            }
            assertTrue(refused > 0, "the disk filled up and a publish was refused");
            assertEquals(SessionListener.CloseReason.ENGINE_RESET, pubListener.next(Duration.ofSeconds(30)).closed());

            Files.delete(filler);
            Engine e = engine;
            SessionHandle back = null;
            RecordingListener subListener = new RecordingListener();
            long deadline = System.currentTimeMillis() + 30_000;
            while (back == null && System.currentTimeMillis() < deadline) {
                try {
                    back = e.connect(new ConnectRequest("sub", false, 3600, 100), subListener).get(10, TimeUnit.SECONDS);
                } catch (ExecutionException notYet) {
                    Thread.sleep(200);
                }
            }
            assertTrue(back != null, "the engine came back after space was freed");
            back.startDelivery();
            Set<Integer> delivered = new HashSet<>();
            for (int n = 0; n < acknowledged.size(); n++) {
                OutboundPublish p = subListener.nextPublish();
                delivered.add((int) p.message().payload()[0] & 0xFF);
                await(back.puback(p.packetId()));
            }
            assertTrue(delivered.containsAll(acknowledged), "every acknowledged message survived: " + delivered);

            SessionHandle pub2 = await(e.connect(new ConnectRequest("pub", false, 3600, 100), new RecordingListener()));
            assertEquals(PublishResult.Status.ACCEPTED,
                    await(pub2.publish(1, Message.of("t", new byte[]{1}, 1))).status(), "publishes work again");
        } finally {
            engine.close();
        }
    }

    private static void fill(Path filler, long max) throws IOException {
        byte[] chunk = new byte[256 * 1024];
        try (OutputStream out = Files.newOutputStream(filler)) {
            for (long written = 0; written < max; written += chunk.length) {
                out.write(chunk);
            }
        } catch (IOException full) {
            // no space left: exactly what we wanted
        }
    }
}
