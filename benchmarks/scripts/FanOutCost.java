import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * FanOutBenchmark's scenario (one publisher, N online QoS 1 subscribers acknowledging everything,
 * 100 messages outstanding, 256-byte payloads) measured by counters that a shared machine's load
 * disturbs far less than throughput: process CPU time per message and store writes per message
 * (the engine's own {@code durablemq.commit.batch.size}). Runs against any build's public engine
 * API, so main and a branch can be compared with the same file:
 *
 *   java -cp benchmarks.jar benchmarks/scripts/FanOutCost.java SUBSCRIBERS MESSAGES DURABILITY
 */
public class FanOutCost {
    private static final int RING = 1 << 16;
    private static final int WINDOW = 100;

    public static void main(String[] args) throws Exception {
        int subscribers = Integer.parseInt(args[0]);
        int messages = Integer.parseInt(args[1]);
        Durability durability = Durability.valueOf(args[2]);
        Path dir = Files.createTempDirectory("fanout-cost");
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Semaphore outstanding = new Semaphore(WINDOW);
        AtomicIntegerArray remaining = new AtomicIntegerArray(RING);
        try (Engine engine = Engine.open(EngineConfig.defaults(dir).withDurability(durability), meters)) {
            for (int i = 0; i < subscribers; i++) {
                ExecutorService acks = Executors.newSingleThreadExecutor();
                SessionHandle[] handle = new SessionHandle[1];
                SessionListener l = new SessionListener() {
                    @Override
                    public void onPublish(OutboundPublish p) {
                        long seq = ByteBuffer.wrap(p.message().payload()).getLong();
                        acks.execute(() -> {
                            handle[0].puback(p.packetId());
                            if (remaining.decrementAndGet((int) (seq & (RING - 1))) == 0) {
                                outstanding.release();
                            }
                        });
                    }

                    @Override
                    public void onPubrel(int packetId) {
                    }

                    @Override
                    public void onSessionClosed(CloseReason reason) {
                    }
                };
                handle[0] = engine.connect(new ConnectRequest("sub-" + i, false, 3600, 65_535), l).get();
                handle[0].subscribe(List.of(Subscription.of("fan/t", 1))).get();
                handle[0].startDelivery();
            }
            SessionHandle pub = engine.connect(new ConnectRequest("pub", false, 3600, 65_535), new SessionListener() {
                @Override
                public void onPublish(OutboundPublish p) {
                }

                @Override
                public void onPubrel(int packetId) {
                }

                @Override
                public void onSessionClosed(CloseReason reason) {
                }
            }).get();
            long seq = 0;
            com.sun.management.OperatingSystemMXBean os =
                    (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            for (int phase = 0; phase < 2; phase++) { // warm-up, then measured
                outstanding.acquire(WINDOW);
                outstanding.release(WINDOW);
                DistributionSummary writes = meters.get("durablemq.commit.batch.size").summary();
                double writes0 = writes.totalAmount();
                long commits0 = writes.count();
                long cpu0 = os.getProcessCpuTime();
                long t0 = System.nanoTime();
                for (int m = 0; m < messages; m++, seq++) {
                    outstanding.acquire();
                    remaining.set((int) (seq & (RING - 1)), subscribers);
                    byte[] payload = new byte[256];
                    ByteBuffer.wrap(payload).putLong(seq);
                    pub.publish((int) (seq % 65_535) + 1, Message.of("fan/t", payload, 1));
                }
                if (!outstanding.tryAcquire(WINDOW, 120, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("deliveries did not finish");
                }
                outstanding.release(WINDOW);
                // A barrier: its answer comes after every batch before it is written, acks included.
                pub.publish((int) (seq++ % 65_535) + 1, Message.of("barrier/none", new byte[8], 1)).get(120, TimeUnit.SECONDS);
                long wall = System.nanoTime() - t0;
                long cpu = os.getProcessCpuTime() - cpu0;
                if (phase == 1) {
                    System.out.printf("subscribers=%d messages=%d durability=%s msgs/s=%.0f cpu_us_per_msg=%.1f"
                                    + " writes_per_msg=%.2f msgs_per_commit=%.1f%n", subscribers, messages, durability,
                            messages * 1e9 / wall, cpu / 1e3 / messages,
                            (writes.totalAmount() - writes0) / messages,
                            (double) messages / Math.max(1, writes.count() - commits0));
                }
            }
        }
        System.exit(0);
    }
}
