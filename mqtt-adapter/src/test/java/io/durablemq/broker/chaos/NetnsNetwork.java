package io.durablemq.broker.chaos;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A private network of Linux network namespaces on this machine, one per cluster node, so that a
 * test can cut real links between broker processes (issue 13, "Partition").
 *
 * <pre>
 *   netns dmq-pPID-SUFFIX-n1  eth0 198.18.X.1/24 ─┐
 *   netns dmq-pPID-SUFFIX-n2  eth0 198.18.X.2/24 ─┼─ bridge br0 in netns dmq-pPID-SUFFIX-br
 *   netns dmq-pPID-SUFFIX-n3  eth0 198.18.X.3/24 ─┤
 *   this (root) netns  dqSUFFIXh 198.18.X.254/24 ─┘   (the test JVM's clients and HTTP probes)
 * </pre>
 *
 * <p>Why a veth into the root namespace: the harness (Paho clients, the {@link Ledger}) lives in
 * the test JVM, which cannot enter a namespace; one extra link lets it reach every node directly,
 * while the cut between nodes is made inside their namespaces and leaves the clients' paths alone,
 * so a client can keep talking to a leader that no longer reaches its followers. The addresses
 * are a random /24 of 198.18.0.0/15 (RFC 2544, reserved for benchmark tests, never routed), checked
 * to be unused here; the only change to the root namespace is that link and its /24 route, both
 * gone when the namespaces are deleted.
 *
 * <p>The cut is a pair of blackhole routes per link ({@code ip route add blackhole PEER/32} inside
 * each side's namespace): packets between the isolated node and the others are silently dropped,
 * as on a failed switch port, with no error sent back. {@link #close()} (also run by a shutdown
 * hook) deletes every namespace it made; the caller kills its processes first. A run killed before
 * its hook ran leaves namespaces named after its JVM's pid; the next run deletes those whose JVM is gone.
 */
final class NetnsNetwork implements AutoCloseable {
    /** Set by .ci/run (as root): the partition test fails instead of skipping when namespaces are unavailable. */
    static final String REQUIRED = "netns.required";
    private static final String OWN_PREFIX = "dmq-p" + ProcessHandle.current().pid() + "-";
    private static final Pattern ANY_RUN = Pattern.compile("dmq-p(\\d+)-[0-9a-f]+-(?:n\\d+|br)");

    private final String suffix;
    private final int nodes;
    private final String prefix;
    private final List<String> created = new ArrayList<>();
    private final List<String> cuts = new ArrayList<>();
    private final Thread reaper = new Thread(this::deleteQuietly, "netns-reaper");
    private boolean closed;

    private NetnsNetwork(String suffix, int nodes, String prefix) {
        this.suffix = suffix;
        this.nodes = nodes;
        this.prefix = prefix;
    }

    /**
     * Builds the network, or skips the calling test saying why (not root, no {@code ip netns}); with
     * {@code -Dnetns.required=true} it fails instead, so CI cannot pass with the proof skipped.
     */
    static NetnsNetwork createOrSkip(int nodes) throws IOException, InterruptedException {
        String missing = null;
        String uid = runQuietly(List.of("id", "-u"));
        if (uid == null || !"0".equals(uid.trim())) {
            missing = "network namespaces need root (user is " + System.getProperty("user.name") + ")";
        } else if (runQuietly(List.of("ip", "netns", "list")) == null) {
            missing = "`ip netns` is unavailable (is iproute2 installed?)";
        }
        NetnsNetwork net = null;
        if (missing == null) {
            deleteLeftovers();
            net = new NetnsNetwork(randomSuffix(), nodes, freeSubnet());
            Runtime.getRuntime().addShutdownHook(net.reaper);
            try {
                net.build();
            } catch (IOException e) {
                net.close();
                net = null;
                missing = "cannot build the namespaces: " + e.getMessage();
            }
        }
        if (missing != null) {
            if (Boolean.getBoolean(REQUIRED)) {
                Assertions.fail(REQUIRED + "=true but " + missing);
            }
            Assumptions.abort("partition test skipped: " + missing);
        }
        return net;
    }

    /** Namespace names carry this JVM's pid, so a later run can delete what a killed run left behind. */
    private String ns(int node) {
        return OWN_PREFIX + suffix + "-n" + (node + 1);
    }

    private String bridgeNs() {
        return OWN_PREFIX + suffix + "-br";
    }

    /**
     * Deletes the namespaces of runs whose JVM is gone (killed before its shutdown hook could run, e.g. by
     * a test timeout's SIGKILL): their links and routes go with them.
     */
    private static void deleteLeftovers() {
        String list = runQuietly(List.of("ip", "netns", "list"));
        if (list == null) {
            return;
        }
        for (String line : list.split("\n")) {
            String name = line.split(" ", 2)[0].strip();
            Matcher m = ANY_RUN.matcher(name);
            if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).isEmpty()) {
                runQuietly(List.of("ip", "netns", "del", name));
            }
        }
    }

    /** The node's address, where its MQTT, metrics and Raft ports listen. */
    String address(int node) {
        return prefix + (node + 1);
    }

    /** Prefix for a command that must run inside the node's namespace. */
    List<String> exec(int node) {
        return List.of("ip", "netns", "exec", ns(node));
    }

    private void build() throws IOException, InterruptedException {
        String br = bridgeNs();
        addNamespace(br);
        run(List.of("ip", "netns", "exec", br, "ip", "link", "add", "br0", "type", "bridge"));
        run(List.of("ip", "netns", "exec", br, "ip", "link", "set", "br0", "up"));
        for (int i = 0; i < nodes; i++) {
            String ns = ns(i);
            addNamespace(ns);
            String inside = "dq" + suffix + "n" + (i + 1);
            String port = "dq" + suffix + "b" + (i + 1);
            run(List.of("ip", "link", "add", inside, "type", "veth", "peer", "name", port));
            run(List.of("ip", "link", "set", inside, "netns", ns));
            run(List.of("ip", "link", "set", port, "netns", br));
            run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", inside, "name", "eth0"));
            run(List.of("ip", "netns", "exec", ns, "ip", "addr", "add", address(i) + "/24", "dev", "eth0"));
            run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"));
            run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"));
            run(List.of("ip", "netns", "exec", br, "ip", "link", "set", port, "master", "br0"));
            run(List.of("ip", "netns", "exec", br, "ip", "link", "set", port, "up"));
        }
        String host = "dq" + suffix + "h";
        String hostPort = "dq" + suffix + "bh";
        run(List.of("ip", "link", "add", host, "type", "veth", "peer", "name", hostPort));
        run(List.of("ip", "link", "set", hostPort, "netns", br));
        run(List.of("ip", "addr", "add", prefix + "254/24", "dev", host));
        run(List.of("ip", "link", "set", host, "up"));
        run(List.of("ip", "netns", "exec", br, "ip", "link", "set", hostPort, "master", "br0"));
        run(List.of("ip", "netns", "exec", br, "ip", "link", "set", hostPort, "up"));
    }

    private void addNamespace(String name) throws IOException, InterruptedException {
        run(List.of("ip", "netns", "add", name));
        created.add(name);
    }

    /** Drops every packet between {@code node} and the other nodes, both ways; clients still reach all. */
    void isolate(int node) throws IOException, InterruptedException {
        for (int other = 0; other < nodes; other++) {
            if (other != node) {
                cut(node, other);
                cut(other, node);
            }
        }
    }

    private void cut(int from, int to) throws IOException, InterruptedException {
        run(List.of("ip", "netns", "exec", ns(from), "ip", "route", "add", "blackhole", address(to) + "/32"));
        cuts.add(from + ">" + to);
    }

    /** Removes every cut. */
    void heal() throws IOException, InterruptedException {
        for (String c : List.copyOf(cuts)) {
            int from = Integer.parseInt(c.substring(0, c.indexOf('>')));
            int to = Integer.parseInt(c.substring(c.indexOf('>') + 1));
            run(List.of("ip", "netns", "exec", ns(from), "ip", "route", "del", "blackhole", address(to) + "/32"));
            cuts.remove(c);
        }
    }

    @Override
    public synchronized void close() {
        deleteQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException ignored) {
            // the JVM is shutting down: the hook runs anyway
        }
    }

    /** Deleting a namespace deletes its links, and with them their peers (the host's link too). */
    private synchronized void deleteQuietly() {
        if (closed) {
            return;
        }
        closed = true;
        for (String name : created) {
            runQuietly(List.of("ip", "netns", "del", name));
        }
        runQuietly(List.of("ip", "link", "del", "dq" + suffix + "h")); // normally gone with its peer already
    }

    /**
     * A random /24 of 198.18.0.0/15 that no address or route of this machine mentions (another run of
     * this test, or the machine's own use of the range).
     */
    private static String freeSubnet() throws IOException {
        String used = runQuietly(List.of("ip", "-4", "-o", "addr", "show")) + "\n" + runQuietly(List.of("ip", "-4", "route", "show", "table", "all"));
        SecureRandom random = new SecureRandom();
        for (int attempt = 0; attempt < 100; attempt++) {
            String candidate = "198." + (18 + random.nextInt(2)) + "." + random.nextInt(256) + ".";
            if (!used.contains(candidate)) {
                return candidate;
            }
        }
        throw new IOException("no unused /24 in 198.18.0.0/15");
    }

    /** Six hex digits: the interface names (dqSUFFIXn1, at most 15 characters) must stay short. */
    private static String randomSuffix() {
        byte[] b = new byte[3];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + ": no answer within 30 s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed (exit " + p.exitValue() + "): " + out.strip());
        }
        return out;
    }

    /** The command's output, or null if it failed or could not start. */
    private static String runQuietly(List<String> command) {
        try {
            return run(command);
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
