package io.durablemq.engine.crash;

import io.durablemq.engine.Engine;
import io.durablemq.engine.EngineConfig;
import io.durablemq.engine.RecoveryReport;
import io.durablemq.engine.delivery.OutboundPublish;
import io.durablemq.engine.delivery.PublishResult;
import io.durablemq.engine.message.Message;
import io.durablemq.engine.session.ConnectRequest;
import io.durablemq.engine.session.SessionHandle;
import io.durablemq.engine.session.SessionListener;
import io.durablemq.engine.store.Durability;
import io.durablemq.engine.topic.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The child process of {@link EngineCrashTest}: drives the engine with concurrent publishers
 * and two subscribers and reports on stdout, one line per completed step, what a client
 * would have seen. The parent SIGKILLs it at random moments.
 *
 * <p>Args: dataDir durability(fsync|os) mode(run|drain) resendFile startSeq clientLogFile
 */
public final class CrashDriver {
    static final String TOPIC = "t/x";
    static final int PUBLISHERS = 4;
    private static final PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
            StandardCharsets.UTF_8);

    /**
     * The clients' log: one unbuffered write per event, before the client acts on it, so it
     * survives SIGKILL the way a real client's persisted state does. (A pipe to the parent
     * loses its last lines when the process is killed.)
     */
    private static java.io.FileOutputStream log;

    private static synchronized void say(String line) {
        try {
            log.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Durability durability = Durability.parse(args[1]);
        boolean drain = args[2].equals("drain");
        Path resendFile = Path.of(args[3]);
        long startSeq = Long.parseLong(args[4]);
        log = new java.io.FileOutputStream(args[5], true);

        Engine engine = Engine.open(EngineConfig.defaults(dir).withDurability(durability).withMaxInflight(8)
                        .withPartitions(Integer.getInteger("durablemq.test.partitions", 1)),
                new SimpleMeterRegistry());
        RecoveryReport r = engine.recoveryReport();
        say("RECOVERED checked=" + r.recordsChecked() + " queued=" + r.queuedMessages()
                + " inflight=" + r.inflightMessages() + " bodies=" + r.storedBodies()
                + " millis=" + r.duration().toMillis());

        var snap = engine.session("sub-1");
        say("INFLIGHT sub-1 " + (snap == null ? "none" : snap.inflight().toString().replace(" ", "")));
        Subscriber sub1 = new Subscriber(engine, "sub-1", "t/#", 2);
        Subscriber sub2 = new Subscriber(engine, "sub-2", "t/+", 1);
        sub1.connect();
        sub2.connect();

        SessionHandle[] pubs = new SessionHandle[PUBLISHERS];
        for (int p = 0; p < PUBLISHERS; p++) {
            pubs[p] = engine.connect(new ConnectRequest("pub-" + p, false, ConnectRequest.NEVER_EXPIRES, 65_535),
                    new Ignore()).get(60, TimeUnit.SECONDS);
            pubs[p].startDelivery();
        }
        // A real client resends what it sent without an answer: same packet id for QoS 2.
        for (String line : Files.exists(resendFile) ? Files.readAllLines(resendFile) : List.<String>of()) {
            String[] f = line.split(" ");
            int p = Integer.parseInt(f[0]);
            long seq = Long.parseLong(f[1]);
            int packetId = Integer.parseInt(f[3]);
            if (f[4].equals("PUBREL")) {
                pubs[p].release(packetId).get(60, TimeUnit.SECONDS);
                say("RELEASED " + p + " " + seq);
            } else {
                publish(pubs[p], p, seq, Integer.parseInt(f[2]), packetId).get(60, TimeUnit.SECONDS);
            }
        }
        say("READY");
        out.println("READY");

        if (drain) {
            sub2.online.set(true);
            // Ends only on a reading of nothing queued or in flight that lasted 700 ms: a check of the
            // clock alone after a sleep could end it early when the machine stalls this thread longer
            // than that (seen at load 14 on 2 vCPUs: 36,000 messages left undelivered, a false "lost").
            long quietSince = System.currentTimeMillis();
            while (true) {
                long now = System.currentTimeMillis();
                if (engine.stats().queuedMessages() + engine.stats().inflightMessages() > 0) {
                    quietSince = now;
                } else if (now - quietSince >= 700) {
                    break;
                }
                Thread.sleep(50);
            }
            say("DRAINED bodies=" + engine.stats().storedBodies());
            engine.close();
            System.exit(0);
        }

        Thread toggler = new Thread(() -> {
            try {
                while (true) {
                    Thread.sleep(120);
                    sub2.disconnect();
                    Thread.sleep(80);
                    sub2.connect();
                }
            } catch (Exception e) {
                // killed or closed
            }
        });
        toggler.setDaemon(true);
        toggler.start();

        Thread[] threads = new Thread[PUBLISHERS];
        for (int p = 0; p < PUBLISHERS; p++) {
            int pub = p;
            threads[p] = new Thread(() -> runPublisher(pubs[pub], pub, startSeq));
            threads[p].start();
        }
        for (Thread t : threads) {
            t.join();
        }
    }

    /** Publishes with up to 16 outstanding; QoS alternates 1 and 2; packet id = seq mod 65535 + 1. */
    private static void runPublisher(SessionHandle h, int pub, long startSeq) {
        Semaphore window = new Semaphore(16);
        for (long seq = startSeq; ; seq++) {
            try {
                window.acquire();
            } catch (InterruptedException e) {
                return;
            }
            int qos = (seq % 2 == 0) ? 2 : 1;
            int packetId = (int) (seq % 65_535) + 1;
            publish(h, pub, seq, qos, packetId).whenComplete((v, e) -> window.release());
        }
    }

    private static CompletableFuture<Void> publish(SessionHandle h, int pub, long seq, int qos, int packetId) {
        say("SENT " + pub + " " + seq + " " + qos + " " + packetId);
        Message m = Message.of(TOPIC, (pub + ":" + seq).getBytes(StandardCharsets.UTF_8), qos);
        return h.publish(packetId, m).thenCompose(r -> {
            if (r.status() == PublishResult.Status.QUOTA_EXCEEDED) {
                throw new IllegalStateException("unexpected quota");
            }
            say("ACK " + pub + " " + seq + " " + qos + " " + r.status());
            if (qos == 2) {
                return h.release(packetId).thenRun(() -> say("RELEASED " + pub + " " + seq));
            }
            return CompletableFuture.completedFuture(null);
        });
    }

    /** A subscriber client that answers every PUBLISH and PUBREL at once and reports them. */
    private static final class Subscriber implements SessionListener {
        final Engine engine;
        final String id;
        final String filter;
        final int qos;
        final AtomicBoolean online = new AtomicBoolean();
        volatile SessionHandle handle;

        Subscriber(Engine engine, String id, String filter, int qos) {
            this.engine = engine;
            this.id = id;
            this.filter = filter;
            this.qos = qos;
        }

        synchronized void connect() throws Exception {
            SessionHandle h = engine.connect(new ConnectRequest(id, false, ConnectRequest.NEVER_EXPIRES, 8), this)
                    .get(60, TimeUnit.SECONDS);
            if (!h.sessionPresent()) {
                h.subscribe(List.of(Subscription.of(filter, qos))).get(60, TimeUnit.SECONDS);
            }
            handle = h;
            online.set(true);
            h.startDelivery();
        }

        synchronized void disconnect() throws Exception {
            online.set(false);
            handle.disconnect(-1).get(60, TimeUnit.SECONDS);
        }

        @Override
        public void onPublish(OutboundPublish p) {
            SessionHandle h = handle;
            say("DELIVER " + id + " " + new String(p.message().payload(), StandardCharsets.UTF_8) + " " + p.qos()
                    + " " + p.packetId() + " " + p.dup());
            if (p.qos() == 1) {
                h.puback(p.packetId());
            } else if (p.qos() == 2) {
                h.pubrec(p.packetId());
            }
        }

        @Override
        public void onPubrel(int packetId) {
            say("PUBREL " + id + " " + packetId);
            handle.pubcomp(packetId);
        }

        @Override
        public void onSessionClosed(CloseReason reason) {
        }
    }

    private static final class Ignore implements SessionListener {
        @Override
        public void onPublish(OutboundPublish publish) {
        }

        @Override
        public void onPubrel(int packetId) {
        }

        @Override
        public void onSessionClosed(CloseReason reason) {
        }
    }
}
