package io.durablemq.cluster;

import io.durablemq.engine.Engine;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.store.BatchLog;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.store.Store;
import io.durablemq.engine.support.RecordingListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.rocksdb.WriteBatch;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.durablemq.cluster.ClusterHarness.await;
import static io.durablemq.cluster.EngineClients.offlineSubscriber;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pipelined committer on a real three-node Raft group (fsync Raft logs, loopback): four
 * publishers send without waiting, so the leader's committer has several Raft entries
 * outstanding at once; every publish is acknowledged, each publisher's acknowledgements come in
 * its publish order, and after the leader goes away the next leader holds every acknowledged
 * message, in each publisher's order.
 *
 * <p>The acknowledgement order is what the broker's adapter sees: a dependent stage that the
 * publisher attaches to each future (as {@code InboundPublishFlow} does), run by the engine's
 * commit completion thread. Nothing else may wait on the futures until every acknowledgement is
 * recorded: a thread blocked in {@code get()}/{@code join()} on a {@link CompletableFuture} that
 * completes runs the future's pending dependents itself (CompletableFuture's {@code postComplete}),
 * racing the completion thread, and once descheduled between taking a dependent and running it,
 * it records that acknowledgement after later ones. This test used to do exactly that (the main
 * thread awaited every future while the publishes were still being committed) and so failed about
 * 1 run in 20 under CPU load with one acknowledgement a few places late ([.., 200, 202, 203, 204,
 * 201, ..]); with a 20 ms pause in the action when it ran on the main thread, 4 runs in 4 failed,
 * each late acknowledgement run by {@code main}, never by the completion thread. The engine's order
 * itself is proven without Raft in {@code io.durablemq.engine.PipelinedAckOrderTest}.
 */
@Timeout(180)
class PipelinedReplicationTest {
    private static final int PUBLISHERS = 4;
    private static final int PER_PUBLISHER = 250;

    @RegisterExtension
    final Clusters clusters = new Clusters();

    @Test
    void severalBatchesInFlightKeepEveryAcknowledgedMessageInPublisherOrder() throws Exception {
        List<OutstandingCount> counts = List.of(new OutstandingCount(), new OutstandingCount(), new OutstandingCount());
        ClusterHarness cluster = clusters.of(3, ClusterHarness.Options.DEFAULT.withDurability(Durability.FSYNC)
                .withServices((node, data) -> new EngineService(data, counts.get(node)::wrap)));
        int first = cluster.startAll();
        Engine leader = cluster.engine(first);
        offlineSubscriber(leader, "sub");

        List<List<Integer>> acked = new ArrayList<>();
        // Which thread ran each acknowledgement: if the order ever breaks, the message says where it came from.
        List<List<String>> ackedBy = new ArrayList<>();
        List<CompletableFuture<PublishResult>> all = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch recorded = new CountDownLatch(PUBLISHERS * PER_PUBLISHER);
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < PUBLISHERS; p++) {
            List<Integer> order = Collections.synchronizedList(new ArrayList<>());
            List<String> by = Collections.synchronizedList(new ArrayList<>());
            acked.add(order);
            ackedBy.add(by);
            SessionHandle pub = await(leader.connect(new ConnectRequest("pub" + p, true, 0, 65_535), new RecordingListener()));
            int publisher = p;
            threads.add(new Thread(() -> {
                for (int i = 0; i < PER_PUBLISHER; i++) {
                    int n = i;
                    CompletableFuture<PublishResult> f = pub.publish(i + 1,
                            Message.of("t/" + publisher, ("p" + publisher + "-" + i).getBytes(StandardCharsets.UTF_8), 1));
                    f.whenComplete((r, e) -> { // runs when the future completes: acknowledgement order
                        synchronized (order) {
                            order.add(n);
                            by.add(n + "@" + Thread.currentThread().getName());
                        }
                        recorded.countDown();
                    });
                    all.add(f);
                    if (i % 25 == 24) {
                        sleep(1); // spread the publishes over several batches
                    }
                }
            }, "publisher-" + p));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads) {
            t.join(60_000);
        }
        // Only now may this thread touch the futures: waiting on one before its dependent ran would run it here (above).
        assertTrue(recorded.await(120, TimeUnit.SECONDS), "every publish was answered: " + recorded.getCount() + " not");
        for (CompletableFuture<PublishResult> f : all) {
            assertEquals(PublishResult.Status.ACCEPTED, await(f).status());
        }
        for (int p = 0; p < PUBLISHERS; p++) {
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i < PER_PUBLISHER; i++) {
                expected.add(i);
            }
            int publisher = p;
            assertEquals(expected, acked.get(p), () -> "publisher " + publisher + "'s acknowledgements in its publish order;"
                    + " acknowledged by: " + ackedBy.get(publisher));
            for (String by : ackedBy.get(p)) {
                // The completion thread, or the publisher itself when its future was done before it attached the stage.
                assertTrue(by.endsWith("@durablemq-commit-completions") || by.endsWith("@publisher-" + p),
                        () -> "an acknowledgement run by another thread: " + by);
            }
        }
        int most = counts.get(first).maxOutstanding.get();
        assertTrue(most >= 2, "several Raft entries were outstanding at once (most: " + most + ")");
        assertTrue(most <= io.durablemq.engine.store.Committer.DEFAULT_BATCHES_IN_FLIGHT,
                "never more than the committer's depth: " + most);
        assertEquals(PUBLISHERS * PER_PUBLISHER, leader.session("sub").queuedMessages());

        cluster.stop(first);
        int second = cluster.awaitServing();
        assertNotEquals(first, second);
        Engine next = cluster.engine(second);
        assertNotNull(next.session("sub"), "the persistent session was replicated");
        assertEquals(PUBLISHERS * PER_PUBLISHER, next.session("sub").queuedMessages(), "every acknowledged message is on the new leader");
        RecordingListener events = new RecordingListener();
        SessionHandle sub2 = await(next.connect(new ConnectRequest("sub", false, 3600, 65_535), events));
        sub2.startDelivery();
        Map<String, Integer> nextOf = new HashMap<>();
        for (int k = 0; k < PUBLISHERS * PER_PUBLISHER; k++) {
            OutboundPublish p = events.nextPublish();
            String[] parts = new String(p.message().payload(), StandardCharsets.UTF_8).split("-");
            int expected = nextOf.getOrDefault(parts[0], 0);
            assertEquals(expected, Integer.parseInt(parts[1]), "order of " + parts[0] + " kept");
            nextOf.put(parts[0], expected + 1);
            await(sub2.puback(p.packetId()));
        }
        assertEquals(PUBLISHERS, nextOf.size());
    }

    /** Wraps a node's batch log to count how many entries are outstanding at once. */
    static final class OutstandingCount {
        final AtomicInteger outstanding = new AtomicInteger();
        final AtomicInteger maxOutstanding = new AtomicInteger();

        BatchLog wrap(BatchLog batchLog) {
            return new BatchLog() {
                @Override
                public void write(Store store, WriteBatch batch) throws Exception {
                    batchLog.write(store, batch);
                }

                @Override
                public CompletableFuture<Void> submit(Store store, WriteBatch batch) throws Exception {
                    CompletableFuture<Void> f = batchLog.submit(store, batch);
                    maxOutstanding.accumulateAndGet(outstanding.incrementAndGet(), Math::max);
                    return f.whenComplete((ok, failed) -> outstanding.decrementAndGet());
                }
            };
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
