package io.durablemq.broker.chaos;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Debian's {@code mosquitto_sub -c} (persistent session) as a subscriber. Its output goes to a
 * file, never a pipe, line-buffered by {@code stdbuf -oL}, so every line it printed stays readable
 * whatever happens to the process. It prints each message as {@code "%q %m %t %p"} and, with
 * {@code -d}, every packet it sends and receives.
 *
 * <p>The packet trace is replayed through a model of libmosquitto 2.0's inbound QoS 2 list, to
 * tell the broker's behaviour from a libmosquitto defect: libmosquitto appends every QoS 2 PUBLISH
 * to that list without looking for one with the same packet id, and on PUBREL hands the first
 * entry with that id to the application. When the broker (correctly, MQTT 3.1.1 section 4.3.3)
 * resends a PUBLISH with DUP because the subscriber's PUBREC was not yet durable when it was
 * killed, libmosquitto keeps two copies; the second is handed over again on the PUBREL of the next
 * message that reuses the packet id (an application-level duplicate), and that next message stays
 * in the list for ever (an application-level loss). Such deliveries are counted here, not fed to
 * the ledger as broker duplicates, and messages stuck behind them are reported per topic.
 *
 * <p>A second libmosquitto behaviour: a SIGTERM that reaches mosquitto_sub while libmosquitto is
 * reconnecting to a restarted broker makes it log DISCONNECT and stop handing messages to the
 * application, and the reconnection then completes anyway: the process goes on acknowledging every
 * message it receives without printing it, until it is killed (seen in CI, 2026-12-01: 1,377
 * messages; the same process, its next SUBSCRIBE had Mid 2). A SIGTERM 0.15-0.9 s after a broker
 * kill, with the broker still down, did not reproduce it (the process exited). {@link #awaitReconnect} lets the harness send SIGTERM only once the
 * process is connected again; PUBLISHes the trace shows after the process's own DISCONNECT are
 * counted per topic ({@link #receivedAfterOwnDisconnect}) so the verdict can tell them apart.
 */
final class MosquittoSub {
    private static final Pattern MESSAGE_LINE = Pattern.compile("([012]) (\\d+) (\\S+) (.*)");
    private static final Pattern PUBLISH_IN = Pattern.compile(
            "Client \\S+ received PUBLISH \\(d(\\d), q(\\d), r\\d, m(\\d+), '([^']*)'.*");
    private static final Pattern PUBREL_IN = Pattern.compile("Client \\S+ received PUBREL \\(Mid: (\\d+)\\)");
    private static final Pattern CONNACK_IN = Pattern.compile("Client \\S+ received CONNACK \\((\\d+)\\)");
    private static final Pattern DISCONNECT_OUT = Pattern.compile("Client \\S+ sending DISCONNECT.*");

    /** One entry of libmosquitto's inbound QoS 2 list. */
    private record Held(int mid, String topic, boolean secondCopy) {
    }

    final String name;
    final String filter;
    final int qos;
    private final Path out;
    private final Ledger ledger;
    private Process process;
    private long consumed;
    private final List<Held> held = new ArrayList<>();
    /** Packet ids whose latest PUBLISH has had no PUBREL yet: a PUBLISH with such an id is a resend. */
    private final Set<Integer> awaitingPubrel = new HashSet<>();
    private Held released;
    private final Set<MsgId> delivered = new HashSet<>();
    private final Map<Held, Boolean> stuck = new java.util.IdentityHashMap<>();
    private int secondCopies;
    private final List<String> lateDeliveries = new ArrayList<>();
    private final List<String> secondCopyDeliveries = new ArrayList<>();
    /** CONNACKs in the trace, over every process (one per connection the broker accepted). */
    private int connacks;
    /** The current process has sent DISCONNECT: from here on it hands nothing to the application. */
    private boolean ownDisconnectSent;
    private final Map<String, Integer> receivedAfterOwnDisconnect = new LinkedHashMap<>();

    MosquittoSub(String name, String filter, int qos, Path workDir, Ledger ledger) {
        this.ledger = ledger;
        this.name = name;
        this.filter = filter;
        this.qos = qos;
        this.out = workDir.resolve(name + ".out");
        ledger.addSession(name, filter, qos, null);
    }

    void start(int port) throws IOException {
        collect(ledger); // what the previous process printed belongs to the previous model
        held.clear(); // a new process starts with an empty list
        ownDisconnectSent = false;
        awaitingPubrel.clear();
        stuck.clear();
        released = null;
        List<String> cmd = new ArrayList<>(List.of("stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1",
                "-p", Integer.toString(port), "-c", "-i", name, "-q", Integer.toString(qos), "-t", filter,
                "-F", "%q %m %t %p", "-d"));
        process = new ProcessBuilder(cmd)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(out.resolveSibling(name + ".err").toFile()))
                .start();
    }

    boolean isRunning() {
        return process != null && process.isAlive();
    }

    /** SIGTERM while the broker is up: mosquitto_sub disconnects and exits; the session stays. */
    void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** Feeds the complete lines printed since the last call to the model and the ledger. */
    void collect(Ledger ledger) throws IOException {
        byte[] bytes;
        try (RandomAccessFile f = new RandomAccessFile(out.toFile(), "r")) {
            long length = f.length();
            if (length <= consumed) {
                return;
            }
            bytes = new byte[(int) (length - consumed)];
            f.seek(consumed);
            f.readFully(bytes);
        } catch (java.io.FileNotFoundException notYet) {
            return;
        }
        int lineStart = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '\n') {
                line(new String(bytes, lineStart, i - lineStart, StandardCharsets.UTF_8), ledger);
                lineStart = i + 1;
            }
        }
        consumed += lineStart;
    }

    private void line(String line, Ledger ledger) {
        Matcher m;
        if ((m = PUBLISH_IN.matcher(line)).matches()) {
            if (ownDisconnectSent) {
                receivedAfterOwnDisconnect.merge(m.group(4), 1, Integer::sum);
            }
            if (m.group(2).equals("2")) {
                int mid = Integer.parseInt(m.group(3));
                // A resend of the message still waiting for its PUBREL, not a new message that reuses
                // the id of a stale copy: the broker sends PUBREL only once the PUBREC is durable, and
                // after that resends PUBREL, never PUBLISH, so a PUBLISH after a PUBREL is new.
                boolean second = !awaitingPubrel.add(mid);
                if (second) {
                    secondCopies++;
                }
                held.add(new Held(mid, m.group(4), second));
            }
        } else if ((m = PUBREL_IN.matcher(line)).matches()) {
            int mid = Integer.parseInt(m.group(1));
            awaitingPubrel.remove(mid);
            released = null;
            for (Iterator<Held> it = held.iterator(); it.hasNext(); ) {
                Held h = it.next();
                if (h.mid() == mid) {
                    it.remove();
                    released = h;
                    break;
                }
            }
            if (released != null && (released.secondCopy() || stuck.containsKey(released))) {
                // the broker released its newest message with this id; libmosquitto released the
                // stale copy (or a message stuck behind one) instead, and that newest message now
                // waits for the next PUBREL with this id: handed over late, or never
                for (Held h : held) {
                    if (h.mid() == mid && !h.secondCopy()) {
                        stuck.put(h, Boolean.TRUE);
                    }
                }
            }
        } else if ((m = MESSAGE_LINE.matcher(line)).matches()) {
            int q = Integer.parseInt(m.group(1));
            byte[] payload = m.group(4).getBytes(StandardCharsets.UTF_8);
            MsgId id = MsgId.parse(payload);
            if (q == 2 && released != null && released.secondCopy() && id != null && delivered.contains(id)) {
                secondCopyDeliveries.add(id + " (packet " + m.group(2) + ")");
            } else if (q == 2 && released != null && stuck.containsKey(released)) {
                lateDeliveries.add(id + " (packet " + m.group(2) + ")");
                ledger.delivered(name, m.group(3), payload, q, false);
                if (id != null) {
                    delivered.add(id);
                }
            } else {
                ledger.delivered(name, m.group(3), payload, q);
                if (id != null) {
                    delivered.add(id);
                }
            }
            released = null;
        } else if (CONNACK_IN.matcher(line).matches()) {
            connacks++;
        } else if (DISCONNECT_OUT.matcher(line).matches()) {
            ownDisconnectSent = true;
        } else if (!line.startsWith("Client ") && !line.startsWith("Subscribed")) {
            ledger.anomaly(name + " printed an unexpected line: " + line);
        }
    }

    /** CONNACKs the trace has shown so far (call {@link #collect} first). */
    int connacks() {
        return connacks;
    }

    /**
     * Waits until the running process has a CONNACK beyond {@code connacksBefore} (its reconnection
     * to a restarted broker), reading the trace as it goes. False when the process is not running
     * or the time ran out.
     */
    boolean awaitReconnect(int connacksBefore, long timeoutMillis) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (isRunning() && System.currentTimeMillis() < deadline) {
            collect(ledger);
            if (connacks > connacksBefore) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }

    /**
     * Per topic, PUBLISHes a process received after sending its own DISCONNECT (libmosquitto
     * completed a reconnection after a SIGTERM): acknowledged by the client, never handed to the
     * application.
     */
    Map<String, Integer> receivedAfterOwnDisconnect() {
        return Map.copyOf(receivedAfterOwnDisconnect);
    }

    /** PUBLISHes the broker resent (DUP) while libmosquitto still held the first copy. */
    int secondCopies() {
        return secondCopies;
    }

    /** Messages libmosquitto handed to the application a second time from such a copy. */
    List<String> secondCopyDeliveries() {
        return List.copyOf(secondCopyDeliveries);
    }

    /** Messages libmosquitto handed over only at a later PUBREL with their packet id (out of order). */
    List<String> lateDeliveries() {
        return List.copyOf(lateDeliveries);
    }

    /**
     * Per topic, QoS 2 messages libmosquitto received and got PUBREL for but never handed over,
     * because a stale second copy with the same packet id was released in their place.
     */
    Map<String, Integer> stuckBehindSecondCopies() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Held h : held) {
            if (stuck.containsKey(h)) {
                out.merge(h.topic(), 1, Integer::sum);
            }
        }
        return out;
    }
}
