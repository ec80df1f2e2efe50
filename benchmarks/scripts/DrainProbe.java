import com.hivemq.client.mqtt.MqttClient;
import com.hivemq.client.mqtt.MqttGlobalPublishFilter;
import com.hivemq.client.mqtt.datatypes.MqttQos;
import com.hivemq.client.mqtt.mqtt5.Mqtt5AsyncClient;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

/**
 * Backlog drain timed message by message, with the broker's CPU per drained message per thread
 * (the JIT's compiler threads, the event loop, the committer, the queue reader): figures a
 * shared machine's load disturbs far less than drain rates (benchmarks/RESULTS.md, "Backlog
 * drain: what limited it"). Against a running broker on 127.0.0.1:
 *
 *     java -cp benchmarks/target/durablemq-loadgen.jar benchmarks/scripts/DrainProbe.java PORT COUNT [ROUNDS [BROKER_PID]]
 *
 * Each round: a persistent QoS 1 subscriber (HiveMQ MQTT 5 client) subscribes and goes offline,
 * one publisher queues COUNT 256-byte messages (100 in flight), the subscriber resumes; printed:
 * the drain's rate, CONNACK and first message times, the arrival time of chosen messages (64 and
 * 65 show a stall after an offline head of 64), the client's CPU per message and, with the
 * broker's pid, its per-thread CPU per message from /proc (Linux; 10 ms ticks). With
 * DRAIN_METRICS=http://127.0.0.1:PORT/metrics (DurableMQ's metrics endpoint) it also prints what
 * the drain alone cost in commits (each one fsync in fsync mode), entries per commit and bodies
 * read, from two scrapes around it. Also printed: the TCP segments the drain cost per message (the whole
 * host's OutSegs from /proc/net/snmp), which shows how many packets a broker packs into one write.
 */
public class DrainProbe {
    public static void main(String[] a) throws Exception {
        int port = Integer.parseInt(a[0]);
        int n = Integer.parseInt(a[1]);
        int rounds = a.length > 2 ? Integer.parseInt(a[2]) : 1;
        String pid = a.length > 3 ? a[3] : null;
        for (int r = 0; r < rounds; r++) {
            String id = "probe-" + System.nanoTime();
            AtomicLong count = new AtomicLong();
            long[] marks = new long[n + 1];
            CountDownLatch done = new CountDownLatch(1);
            Mqtt5AsyncClient sub = MqttClient.builder().useMqttVersion5().identifier(id + "-s").serverHost("127.0.0.1").serverPort(port).buildAsync();
            sub.publishes(MqttGlobalPublishFilter.ALL, p -> {
                long c = count.incrementAndGet();
                if (c <= n) marks[(int) c] = System.nanoTime();
                if (c == n) done.countDown();
            });
            sub.connectWith().cleanStart(true).sessionExpiryInterval(3600).send().get();
            sub.subscribeWith().topicFilter("probe/" + id).qos(MqttQos.AT_LEAST_ONCE).send().get();
            sub.disconnect().get();
            Mqtt5AsyncClient pub = MqttClient.builder().useMqttVersion5().identifier(id + "-p").serverHost("127.0.0.1").serverPort(port).buildAsync();
            pub.connectWith().cleanStart(true).send().get();
            Semaphore window = new Semaphore(100);
            byte[] payload = new byte[256];
            for (int i = 0; i < n; i++) {
                window.acquire();
                pub.publishWith().topic("probe/" + id).qos(MqttQos.AT_LEAST_ONCE).payload(payload).send().whenComplete((x, e) -> window.release());
            }
            window.acquire(100);
            pub.disconnect().get();
            Thread.sleep(500);
            java.util.Map<String, Long> cpu0 = pid == null ? null : cpu(pid);
            java.util.Map<String, Long> self0 = cpu(String.valueOf(ProcessHandle.current().pid()));
            String metricsUrl = System.getenv("DRAIN_METRICS");
            java.util.Map<String, Double> m0 = metricsUrl == null ? null : metrics(metricsUrl);
            long segs0 = tcpOutSegments();
            long t0 = System.nanoTime();
            long epoch0 = System.currentTimeMillis();
            sub.connectWith().cleanStart(false).sessionExpiryInterval(0).send().get();
            long tConnack = System.nanoTime();
            if (!done.await(300, TimeUnit.SECONDS)) { System.out.println("timeout at " + count.get()); return; }
            StringBuilder sb = new StringBuilder();
            sb.append("[epoch " + epoch0 + "-" + System.currentTimeMillis() + "] ");
            sb.append(String.format("n=%d total %.1f ms (%.0f msg/s): connack %.1f ms, first msg %.1f ms", n, ms(marks[n] - t0), n / ((marks[n] - t0) / 1e9), ms(tConnack - t0), ms(marks[1] - t0)));
            int[] ks = {64, 65, 200, 500, 936, 1000, 1001, 1100, 1500, 2000, 2064, 3000, 4000, 6000, 8000, 12000, 16000, 20000, 50000, 100000, 150000, 200000};
            for (int k : ks) if (k <= n) sb.append(String.format(" | %d@%.0f", k, ms(marks[k] - t0)));
            long segs = segs0 < 0 ? -1 : tcpOutSegments() - segs0;
            if (segs >= 0) sb.append(String.format("%n    tcp segments %.3f per msg (both directions, the whole machine)", segs / (double) n));
            if (metricsUrl != null) {
                java.util.Map<String, Double> m1 = metrics(metricsUrl);
                java.util.function.ToDoubleFunction<String> d = k -> m1.getOrDefault(k, 0.0) - m0.getOrDefault(k, 0.0);
                double commits = d.applyAsDouble("durablemq_commit_batch_size_count");
                sb.append(String.format("%n    drain: %.0f commits (%.1f per 1,000 delivered), %.0f store changes per commit, commit latency mean %.2f ms; bodies read ahead %.0f, by sends %.0f",
                        commits, commits * 1000.0 / n, d.applyAsDouble("durablemq_commit_batch_size_sum") / Math.max(1, commits),
                        d.applyAsDouble("durablemq_commit_latency_seconds_sum") * 1000 / Math.max(1, commits),
                        d.applyAsDouble("durablemq_body_reads_total{where=\"read_ahead\"}"), d.applyAsDouble("durablemq_body_reads_total{where=\"send\"}")));
            }
            if (pid != null) {
                java.util.Map<String, Long> cpu1 = cpu(pid);
                long total = 0;
                java.util.TreeMap<String, Long> d = new java.util.TreeMap<>();
                for (var e : cpu1.entrySet()) { if (e.getKey().startsWith("sys:")) { long v2 = e.getValue() - cpu0.getOrDefault(e.getKey(), 0L); if (v2 > 0) d.merge("sys:" + e.getKey().substring(4).replaceAll("[0-9]+$", "#"), v2, Long::sum); continue; } long v = e.getValue() - cpu0.getOrDefault(e.getKey(), 0L); if (v > 0) { d.merge(e.getKey().replaceAll("[0-9]+$", "#"), v, Long::sum); total += v; } }
                long selfTotal = 0;
                for (var e : cpu(String.valueOf(ProcessHandle.current().pid())).entrySet()) if (!e.getKey().startsWith("sys:")) selfTotal += e.getValue() - self0.getOrDefault(e.getKey(), 0L);
                sb.append(String.format("%n    client cpu %.1f us/msg", selfTotal * 10000.0 / n));
                sb.append(String.format("%n    broker cpu %.1f us/msg:", total * 10000.0 / n));
                d.entrySet().stream().sorted((x, y) -> Long.compare(y.getValue(), x.getValue())).limit(12)
                        .forEach(e -> sb.append(String.format(" %s %.1f", e.getKey(), e.getValue() * 10000.0 / n)));
            }
            System.out.println(sb);
            sub.disconnect().get();
        }
    }
    /**
     * TCP segments this host sent (/proc/net/snmp OutSegs; on loopback each is also received once):
     * how many writes a drained message costs the two ends' kernels and the client's reads. -1 off Linux.
     */
    static long tcpOutSegments() {
        try {
            java.util.List<String> lines = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/net/snmp"));
            for (int i = 0; i + 1 < lines.size(); i++) {
                if (lines.get(i).startsWith("Tcp:") && lines.get(i + 1).startsWith("Tcp:")) {
                    java.util.List<String> names = java.util.List.of(lines.get(i).split(" "));
                    return Long.parseLong(lines.get(i + 1).split(" ")[names.indexOf("OutSegs")]);
                }
            }
        } catch (Exception ignored) { }
        return -1;
    }

    /** Per-thread CPU ticks (utime + stime, 10 ms each) of a process, by tid:name. */
    static java.util.Map<String, Long> cpu(String pid) throws Exception {
        java.util.Map<String, Long> m = new java.util.HashMap<>();
        java.io.File[] tasks = new java.io.File("/proc/" + pid + "/task").listFiles();
        if (tasks == null) return m;
        for (java.io.File t : tasks) {
            try {
                String st = java.nio.file.Files.readString(t.toPath().resolve("stat"));
                String name = java.nio.file.Files.readString(t.toPath().resolve("comm")).trim();
                String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
                m.put(name + "\u0000" + t.getName(), Long.parseLong(f[11]) + Long.parseLong(f[12]));
                m.put("sys:" + name + "\u0000" + t.getName(), Long.parseLong(f[12]));
            } catch (Exception ignored) { }
        }
        java.util.Map<String, Long> byName = new java.util.HashMap<>();
        m.forEach((k, v) -> byName.put(k.replace("\u0000", "/"), v));
        return byName;
    }

    /** The plain samples of a Prometheus text page, by name with labels. */
    static java.util.Map<String, Double> metrics(String url) throws Exception {
        java.util.Map<String, Double> m = new java.util.HashMap<>();
        var client = java.net.http.HttpClient.newHttpClient();
        String body = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        for (String line : body.split("\n")) {
            if (line.startsWith("#") || line.isBlank()) continue;
            int sp = line.lastIndexOf(' ');
            try { m.put(line.substring(0, sp), Double.parseDouble(line.substring(sp + 1))); } catch (RuntimeException ignored) { }
        }
        return m;
    }

    static double ms(long ns) { return ns / 1e6; }
}
