package io.durablemq.engine.queue;

import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.support.EngineFixture;
import io.durablemq.engine.support.EngineFixture.Connected;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static io.durablemq.engine.support.EngineFixture.await;
import static io.durablemq.engine.support.EngineFixture.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * A QoS 1 member of a shared group that flips between offline and online many times while a
 * publisher bursts, each time with a full in-flight window it acknowledges only in part and a
 * queue behind it that is paged from the store (a small window, a small body cache), reconnecting
 * at once (while the page read asked for by its previous connect or by the head trimmed at its
 * disconnect is still under way), by a clean disconnect or by a takeover, sometimes with the
 * engine restarted in between: at the end every accepted message reaches the group (engine
 * side of the PowerCutIT g-2 stall; the broker side, with Paho, is SharedMemberResumeTest).
 * {@code -Dshared.flip.rounds=N} repeats it N times (default 3).
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class SharedMemberFlipTest {
    private static final long PERSISTENT = ConnectRequest.NEVER_EXPIRES;
    private static final String FILTER = "$share/g/flip/#";
    private static final int WINDOW = 8;
    private static final int ROUNDS = Integer.getInteger("shared.flip.rounds", 3);

    @TempDir
    Path dir;

    @Test
    void everyAcceptedMessageReachesTheGroupWhileAMemberFlips() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            long seed = System.nanoTime();
            run(dir.resolve("r" + round), seed);
        }
    }

    private void run(Path data, long seed) throws Exception {
        Random random = new Random(seed);
        String why = "seed " + seed;
        Set<String> accepted = ConcurrentHashMap.newKeySet();
        Set<String> delivered = ConcurrentHashMap.newKeySet();
        int flips = 0;
        int restarts = 0;
        long maxQueued = 0;
        try (EngineFixture fx = new EngineFixture(data, c -> c.withMaxInflight(WINDOW).withBodyCacheBytes(16 * 1024))) {
            Connected g1 = fx.connect("g-1", false, PERSISTENT);
            g1.subscribe(FILTER, 1);
            g1.disconnect();
            Connected g2 = fx.connect("g-2", false, PERSISTENT);
            g2.subscribe(FILTER, 1);
            for (int phase = 0; phase < 3; phase++) {
                Connected pub = fx.connect("pub", true, 0);
                AtomicReference<Throwable> failed = new AtomicReference<>();
                int from = phase * 1_000;
                Thread publisher = new Thread(() -> {
                    try {
                        publish(pub, from, 1_000, accepted);
                    } catch (Throwable t) {
                        failed.set(t);
                    }
                }, "flip-publisher");
                publisher.start();
                while (publisher.isAlive()) {
                    g2 = flip(fx, g2, random, delivered);
                    flips++;
                    maxQueued = Math.max(maxQueued, fx.engine().session("g-2").queuedMessages());
                }
                publisher.join();
                assertNull(failed.get(), why + ": publisher");
                pub.disconnect();
                if (random.nextBoolean()) {
                    g2.disconnect();
                    fx.restart(); // the member's window and queue come back from the store
                    restarts++;
                    g2 = fx.connect("g-2", false, PERSISTENT);
                }
            }
            SessionHandle last2 = g2.handle();
            Connected last1 = fx.connect("g-1", false, PERSISTENT);
            drainAll(List.of(g2, last1), accepted, delivered);
            Set<String> missing = new TreeSet<>(accepted);
            missing.removeAll(delivered);
            assertEquals(Set.of(), missing.size() > 10 ? Set.of(missing.size() + " missing, first "
                            + missing.stream().limit(10).toList() + "; g-2 " + fx.engine().session("g-2")
                            + "; g-1 " + fx.engine().session("g-1")) : missing,
                    why + ": accepted but never reached group g");
            last2.disconnect(-1);
        }
        System.out.printf("SharedMemberFlipTest %s: %d accepted, %d flips, %d restarts, g-2 queue up to %d%n",
                why, accepted.size(), flips, restarts, maxQueued);
    }

    /** Publishes {@code n} QoS 1 messages, up to 16 at a time, keeping those the engine accepted. */
    private static void publish(Connected pub, int from, int n, Set<String> accepted) {
        List<CompletableFuture<PublishResult>> pending = new ArrayList<>();
        List<String> payloads = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            String p = "m" + i;
            pending.add(pub.handle().publish(0, Message.of("flip/" + (i % 3), p.getBytes(StandardCharsets.UTF_8), 1)));
            payloads.add(p);
            if (pending.size() == 16 || i == from + n - 1) {
                for (int k = 0; k < pending.size(); k++) {
                    if (await(pending.get(k)).status() == PublishResult.Status.ACCEPTED) {
                        accepted.add(payloads.get(k));
                    }
                }
                pending.clear();
                payloads.clear();
            }
        }
    }

    /**
     * One flip of g-2: takes what its connection got so far, acknowledges a random part, then
     * leaves (a clean disconnect, or not at all: the next connect takes over) and comes back at
     * once or after a moment.
     */
    private static Connected flip(EngineFixture fx, Connected g2, Random random, Set<String> delivered)
            throws InterruptedException {
        Thread.sleep(random.nextInt(3));
        ackSome(g2, random, delivered);
        if (random.nextBoolean()) {
            g2.handle().disconnect(-1); // not awaited: the reconnect races it
        }
        if (random.nextInt(4) == 0) {
            Thread.sleep(random.nextInt(20)); // offline for a moment: messages queue for it (or g-1)
        }
        return fx.connect("g-2", false, PERSISTENT);
    }

    private static void ackSome(Connected c, Random random, Set<String> delivered) {
        for (RecordingListener.Event e : c.listener().drain()) {
            if (e.isPublish() && random.nextBoolean()) {
                delivered.add(text(e.publish().message()));
                c.handle().puback(e.publish().packetId());
            }
        }
    }

    /** Acknowledges everything the members get until every accepted message arrived or nothing came for 15 s. */
    private static void drainAll(List<Connected> members, Set<String> accepted, Set<String> delivered)
            throws InterruptedException {
        long lastProgress = System.currentTimeMillis();
        while (!delivered.containsAll(accepted) && System.currentTimeMillis() - lastProgress < 15_000) {
            boolean progress = false;
            for (Connected m : members) {
                for (RecordingListener.Event e : m.listener().drain()) {
                    if (e.isPublish()) {
                        progress |= delivered.add(text(e.publish().message()));
                        m.handle().puback(e.publish().packetId());
                    }
                }
            }
            if (progress) {
                lastProgress = System.currentTimeMillis();
            } else {
                Thread.sleep(10);
            }
        }
    }
}
