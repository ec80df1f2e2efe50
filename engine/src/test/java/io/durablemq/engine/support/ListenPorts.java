package io.durablemq.engine.support;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for listeners a test must name before they start (child processes, cluster peers that
 * know each other's ports). Chosen <em>below</em> the kernel's ephemeral range
 * ({@code net.ipv4.ip_local_port_range}, 32768-60999 by default) and checked free: a port taken
 * from that range by binding 0 and closing could be handed by the kernel to any outbound
 * connection or port-0 bind before the test's process binds it. That happened in a CI run: a
 * cluster node's MQTT port went to another node's connection (its Raft client or its warm-up
 * broker) in between, the node exited with "Address already in use", and the first leader kill
 * left no majority. The kernel never gives out a port below the range by itself, so only another
 * test choosing the same port could clash, and the bind check and {@link #HANDED_OUT} make that rare.
 *
 * <p>Here, in the engine's test sources, so that every module's tests share it through the
 * engine's test jar (the broker's tests and ITs, the cluster module's {@code ClusterHarness}).
 */
public final class ListenPorts {
    private static final int SPAN = 12_000;
    private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();
    private static final int EPHEMERAL_LOW = ephemeralLow();

    private ListenPorts() {
    }

    /** A loopback port free right now, below the ephemeral range, not handed out before by this JVM. */
    public static int free() throws IOException {
        int high = EPHEMERAL_LOW;
        int low = Math.max(1024, high - SPAN);
        for (int attempt = 0; attempt < 2_000; attempt++) {
            int port = ThreadLocalRandom.current().nextInt(low, high);
            if (HANDED_OUT.add(port) && bindable(port)) {
                return port;
            }
        }
        throw new IOException("no free loopback port in " + low + ".." + (high - 1));
    }

    private static boolean bindable(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException taken) {
            return false;
        }
    }

    /** The low end of the kernel's ephemeral port range; 32768 (Linux's default) if it cannot be read. */
    private static int ephemeralLow() {
        try {
            String range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim();
            int low = Integer.parseInt(range.split("\\s+")[0]);
            return low > 1024 + 1_000 ? low : 32_768;
        } catch (IOException | RuntimeException unreadable) {
            return 32_768;
        }
    }
}
