package io.durablemq.broker.chaos;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * One chaos run: a broker process on one data folder, Paho publishers and subscribers plus two
 * raw-socket clients, all held by this (never-killed) process; the broker is SIGKILLed {@code kills}
 * times at random and chosen points and restarted on the same folder, each kill with the
 * settings' {@link Fault} (nothing more for {@code ChaosIT}; a power cut or a torn write for
 * {@code PowerCutIT}); then the traffic goes on until {@code targetAcknowledged} messages are
 * acknowledged, every subscriber comes online and drains, and the ledger gives the verdict.
 */
final class ChaosRun {
    /**
     * @param dataDir      the broker's data folder (a LazyFS mount for power cuts)
     * @param publisherQos QoS of the four Paho publishers: 1 or 2 for all of them, 0 for two of each
     * @param fault        what a kill does besides the SIGKILL
     * @param refusalEndsRun a store the broker refuses to open after a kill (os durability under power
     *                     cuts, torn writes) ends the run as a finding ({@link #refusedStart()}) for the
     *                     test to judge, instead of failing the harness
     * @param drainQuietMillis the final drain ends when no missing delivery arrived for this long
     */
    record Settings(String durability, int kills, int targetAcknowledged, long seed, Path workDir, Path jar,
                    Path dataDir, int publisherQos, Fault fault, boolean refusalEndsRun, long drainQuietMillis) {
        /** The plain SIGKILL soak: data under the work folder, mixed QoS publishers. */
        Settings(String durability, int kills, int targetAcknowledged, long seed, Path workDir, Path jar) {
            this(durability, kills, targetAcknowledged, seed, workDir, jar, workDir.resolve("data"), 0, Fault.SIGKILL,
                    false, 30_000);
        }
    }

    private static final String RAW_TOPIC = "chaos/raw/a";
    /** Unacknowledged messages per Paho publisher: enough for group commits, small enough for quick drains. */
    private static final int WINDOW = 40;
    /**
     * Flow control: publishers wait while the always-online QoS 2 subscriber is this far behind.
     * Paho's QoS 2 receive path (a persisted file per message) is slower than four publishers; without
     * a bound its backlog grows for the whole run and a soak ends in a drain of hundreds of thousands.
     */
    private static final int MAX_LAG = 3_000;
    /** Broker lives a subscriber stays offline at most, so offline queues fill and drain but stay bounded. */
    private static final int MAX_OFFLINE_LIVES = 3;

    private final Settings settings;
    private final Random random;
    private final Ledger ledger = new Ledger();
    private final List<PahoPublisher> publishers = new ArrayList<>();
    private final List<PahoSubscriber> subscribers = new ArrayList<>();
    private final List<String> killPoints = new ArrayList<>();
    private final ExecutorService connector = Executors.newFixedThreadPool(4);
    private BrokerUnderTest broker;
    private RawQos2Publisher rawPublisher;
    private RawQos2Subscriber rawSubscriber;
    private PahoSubscriber drain;
    private PahoSubscriber flaky;
    private PahoSubscriber groupMember2;

    private long t0;
    private String refusedStart;
    /** Each subscriber at the end of the final drain: connected or not, connections lost in the final life. */
    private String finalConnections = "";
    /** Subscribers connected again during the final drain after losing their connection (see reconnectLostSubscribers). */
    private int finalReconnects;

    /** Progress lines (stdout of the harness, which is never killed). */
    private void progress(String text) {
        System.out.printf("[chaos %s %6.1fs] %s%n", settings.durability(), (System.currentTimeMillis() - t0) / 1000.0, text);
    }

    ChaosRun(Settings settings) {
        this.settings = settings;
        this.random = new Random(settings.seed());
    }

    Verdict run() throws Exception {
        t0 = System.currentTimeMillis();
        PahoClients.STALLED_CONNECTS.set(0);
        PahoClients.STALE_CONNECTIONS.set(0);
        ShutdownSafeFilePersistence.LATE_REMOVALS.set(0);
        Files.createDirectories(settings.workDir());
        broker = new BrokerUnderTest(settings.jar(), settings.workDir(), settings.dataDir(), settings.durability());
        try {
            broker.start();
            createClients();
            connectAll(true); // the subscribers createClients just connected to this life stay as they are
            List<KillPoint> plan = plan(settings.kills());
            int sinceDrain = 0;
            for (int k = 0; k < plan.size(); k++) {
                KillPoint point = plan.get(k);
                if (k > 0) {
                    if (!restart()) {
                        return refusedVerdict();
                    }
                    progress("life " + broker.starts() + " listening, recovery " + last(broker.recoveryMillis()) + " ms");
                    connectAll(false);
                    progress("clients connected (Paho connects stalled so far: " + PahoClients.STALLED_CONNECTS.get() + ")");
                }
                if (point != KillPoint.OFFLINE_DRAIN && drain.wantOnline && sinceDrain >= 1) {
                    drain.goOffline(); // its queue fills over the next broker lives
                } else if (!drain.wantOnline && sinceDrain > MAX_OFFLINE_LIVES) {
                    drain.wantOnline = true; // no drain point for a while: drain now, go offline again later
                    drain.connect(broker.uri());
                    sinceDrain = 0;
                }
                sinceDrain++;
                for (int i = 0; i < 3; i++) {
                    rawPublisher.publishComplete();
                }
                String label = act(point);
                if (point == KillPoint.OFFLINE_DRAIN) {
                    sinceDrain = 0;
                }
                label += settings.fault().beforeKill(broker);
                boolean diedFirst = !broker.isAlive();
                int status = broker.kill();
                if (!settings.fault().brokerMayDieFirst() || !diedFirst) {
                    assertEquals(137, status, "broker exit status after SIGKILL");
                } else {
                    label += " (broker exited " + status + " before the SIGKILL)";
                }
                settings.fault().afterKill();
                killPoints.add(label);
                progress("kill " + (k + 1) + "/" + plan.size() + " at " + label + "; acknowledged "
                        + ledger.acknowledgedCount());
                flip(flaky);
                flip(groupMember2);
            }
            if (!restart()) {
                return refusedVerdict();
            }
            for (PahoSubscriber s : subscribers) {
                s.wantOnline = true;
                s.markLife();
            }
            connectAll(false);
            progress("final life, clients connected");
            finish();
            long elapsed = System.currentTimeMillis() - t0;
            Verdict v = ledger.verdict("durability " + settings.durability(), killPoints.size(), broker.starts() - 1,
                    elapsed, broker.recoveryMillis(), killPoints);
            int status = broker.terminate();
            assertEquals(0, status, "broker exit status after SIGTERM:\n" + broker.log());
            return v;
        } finally {
            closeAll();
            broker.close();
            connector.shutdownNow();
        }
    }

    /**
     * Starts the next broker life. With {@code refusalEndsRun}, a broker that exits instead of
     * listening (a store it refuses to open) is a finding: it is kept in {@link #refusedStart()}.
     */
    private boolean restart() throws Exception {
        try {
            broker.start();
            return true;
        } catch (IllegalStateException e) {
            if (broker.isAlive() && settings.fault().recoverHungStart(broker)) {
                progress("broker life " + broker.starts() + " hung on its file system: " + settings.fault()
                        + " cut power once more and restarts it");
                broker.start();
                return true;
            }
            if (!settings.refusalEndsRun() || broker.isAlive()) {
                throw e;
            }
            if (settings.fault().repairRefusedStart(broker)) {
                broker.start(); // repaired by the operator's command: the run goes on
                return true;
            }
            refusedStart = "broker refused to start after kill " + killPoints.size() + " (" + broker.currentLog() + "): "
                    + BrokerUnderTest.firstErrorLine(broker.log());
            progress(refusedStart);
            return false;
        }
    }

    /** The ledger's verdict when the run ended at a store the broker refused to open. */
    private Verdict refusedVerdict() {
        return ledger.verdict("durability " + settings.durability() + ", store refused", killPoints.size(),
                broker.starts() - 1, System.currentTimeMillis() - t0, broker.recoveryMillis(), killPoints);
    }

    /** Why the broker refused to start after a kill, or null when every life started. */
    String refusedStart() {
        return refusedStart;
    }

    /** Client-side figures for the report. */
    String clientNotes() {
        long refused = publishers.stream().mapToLong(PahoPublisher::refused).sum();
        return "raw-pub DUP PUBLISH probes after a durable PUBREC: " + rawPublisher.dupAfterPubrec()
                + "; Paho publishes refused while disconnected: " + refused
                + "; Paho reconnects whose CONNECT Paho never sent (aborted, retried): " + PahoClients.STALLED_CONNECTS.get()
                + "; Paho clients that said they were connected to a broker that held no connection of theirs (closed,"
                + " connected again): " + PahoClients.STALE_CONNECTIONS.get()
                + "; Paho receive records removed after its connection shutdown closed the persistence (QoS 2"
                + " re-deliveries by Paho avoided, see ShutdownSafeFilePersistence): "
                + ShutdownSafeFilePersistence.LATE_REMOVALS.get()
                + "\nPaho subscribers after the final drain (connected again during the drain after a loss: "
                + finalReconnects + "): " + finalConnections;
    }

    List<String> brokerWarnings() throws Exception {
        return broker.warnings();
    }

    List<String> recoveryReports() {
        return broker.recoveryReports();
    }

    List<Throwable> publisherFailures() {
        List<Throwable> out = new ArrayList<>();
        for (PahoPublisher p : publishers) {
            if (p.failure() != null) {
                out.add(p.failure());
            }
        }
        return out;
    }

    /** Every chosen point at least once per six kills, in a shuffled order, random kills filling the rest. */
    private List<KillPoint> plan(int kills) {
        List<KillPoint> plan = new ArrayList<>();
        KillPoint[] all = KillPoint.values();
        while (plan.size() < kills) {
            List<KillPoint> round = new ArrayList<>(List.of(all));
            java.util.Collections.shuffle(round, random);
            plan.addAll(round);
        }
        return new ArrayList<>(plan.subList(0, kills));
    }

    private void createClients() throws Exception {
        String uri = broker.uri();
        Path paho = settings.workDir().resolve("paho");
        Files.createDirectories(paho);
        int[] qos = settings.publisherQos() == 0 ? new int[] {1, 1, 2, 2} : new int[] {settings.publisherQos(),
                settings.publisherQos(), settings.publisherQos(), settings.publisherQos()};
        for (int i = 0; i < qos.length; i++) {
            String name = "p" + (i + 1);
            publishers.add(new PahoPublisher(name + "-q" + qos[i], qos[i], List.of("chaos/" + name + "/a", "chaos/" + name + "/b"),
                    WINDOW, ledger, uri, paho, this::subscribersKeepUp));
        }
        subscribers.add(new PahoSubscriber("s-all", "chaos/#", 2, null, ledger, uri, paho));
        subscribers.add(new PahoSubscriber("s-exact", "chaos/p3/a", 2, null, ledger, uri, paho));
        subscribers.add(new PahoSubscriber("s-plus-q1", "chaos/+/b", 1, null, ledger, uri, paho));
        drain = new PahoSubscriber("s-drain", "chaos/#", 2, null, ledger, uri, paho);
        flaky = new PahoSubscriber("s-flaky", "chaos/+/a", 1, null, ledger, uri, paho);
        subscribers.add(drain);
        subscribers.add(flaky);
        subscribers.add(new PahoSubscriber("g-1", "$share/g/chaos/#", 2, "g", ledger, uri, paho));
        groupMember2 = new PahoSubscriber("g-2", "$share/g/chaos/#", 1, "g", ledger, uri, paho);
        subscribers.add(groupMember2);
        rawPublisher = new RawQos2Publisher("raw-pub", RAW_TOPIC, ledger, settings.seed() + 1);
        rawSubscriber = new RawQos2Subscriber("raw-sub", "chaos/+/a", ledger);
        // subscriptions exist before the first publish: every subscriber matches everything published
        for (PahoSubscriber s : subscribers) {
            s.connect(uri);
        }
        rawSubscriber.connect(broker.port());
        for (PahoPublisher p : publishers) {
            p.start();
        }
    }

    /**
     * Connects every client that should be online to the current broker life, in parallel.
     * {@code keepLive} only right after {@link #createClients}, whose connections are to this life;
     * after a restart a client Paho calls connected is stale and is connected again
     * ({@link PahoClients#connect(org.eclipse.paho.client.mqttv3.MqttAsyncClient, String, int, boolean)}).
     */
    private void connectAll(boolean keepLive) throws Exception {
        String uri = broker.uri();
        List<Future<?>> done = new ArrayList<>();
        for (PahoPublisher p : publishers) {
            done.add(connector.submit(() -> {
                p.connect(uri, keepLive);
                return null;
            }));
        }
        for (PahoSubscriber s : subscribers) {
            if (s.wantOnline) {
                done.add(connector.submit(() -> {
                    s.connect(uri, keepLive);
                    return null;
                }));
            }
        }
        rawSubscriber.hold(false);
        rawSubscriber.connect(broker.port());
        rawPublisher.connectAndResume(broker.port());
        for (Future<?> f : done) {
            f.get();
        }
    }

    /** Drives the traffic to the kill point; returns a label for the report. */
    private String act(KillPoint point) throws Exception {
        switch (point) {
            case RANDOM -> {
                long ms = 200 + random.nextInt(1_300);
                Thread.sleep(ms);
                return "RANDOM(" + ms + "ms)";
            }
            case UNDER_LOAD -> {
                Thread.sleep(200 + random.nextInt(300));
                boolean loaded = await(() -> totalInFlight() >= WINDOW, 3_000);
                return "UNDER_LOAD(in flight " + totalInFlight() + (loaded ? "" : ", threshold not reached") + ")";
            }
            case AFTER_PUBREC -> {
                Thread.sleep(100 + random.nextInt(400));
                rawPublisher.publishUntilPubrec();
                return "AFTER_PUBREC";
            }
            case AFTER_PUBLISH -> {
                Thread.sleep(100 + random.nextInt(400));
                rawPublisher.publishOnly();
                if (random.nextBoolean()) {
                    Thread.sleep(random.nextInt(3));
                }
                return "AFTER_PUBLISH";
            }
            case OUTBOUND_UNACKED -> {
                Thread.sleep(100 + random.nextInt(300));
                rawSubscriber.hold(true);
                boolean held = await(() -> rawSubscriber.held() >= 5, 3_000);
                Thread.sleep(random.nextInt(50));
                return "OUTBOUND_UNACKED(held " + rawSubscriber.held() + (held ? "" : ", fewer than 5") + ")";
            }
            case OFFLINE_DRAIN -> {
                if (drain.wantOnline) {
                    drain.goOffline();
                }
                int acked = ledger.acknowledgedCount();
                await(() -> ledger.acknowledgedCount() - acked >= 1_000, 3_000);
                long before = drain.received();
                drain.wantOnline = true;
                drain.connect(broker.uri());
                await(() -> drain.received() - before >= 50, 3_000);
                Thread.sleep(random.nextInt(20));
                return "OFFLINE_DRAIN(got " + (drain.received() - before) + " right after reconnect)";
            }
            default -> throw new IllegalStateException(point.toString());
        }
    }

    private final java.util.Map<PahoSubscriber, Integer> offlineLives = new java.util.HashMap<>();

    private void flip(PahoSubscriber s) {
        int lives = s.wantOnline ? 0 : offlineLives.merge(s, 1, Integer::sum);
        if (!s.wantOnline && lives >= MAX_OFFLINE_LIVES) {
            s.wantOnline = true;
        } else if (random.nextInt(100) < 35) {
            s.wantOnline = !s.wantOnline; // the broker is dead: a change takes effect with the next life
        }
        if (s.wantOnline) {
            offlineLives.remove(s);
        }
    }

    /** No more kills: traffic until the target, then every client finishes and every queue drains. */
    private void finish() throws Exception {
        long deadline = System.currentTimeMillis() + 120_000;
        while (ledger.acknowledgedCount() < settings.targetAcknowledged() && System.currentTimeMillis() < deadline) {
            rawPublisher.publishComplete();
            Thread.sleep(50);
        }
        for (PahoPublisher p : publishers) {
            p.pause(true);
        }
        progress("target reached: acknowledged " + ledger.acknowledgedCount());
        if (!await(() -> totalInFlight() == 0, 30_000)) {
            for (PahoPublisher p : publishers) {
                for (MsgId id : p.inFlightIds()) {
                    ledger.anomaly("no delivery complete for " + id + " after 30 s; " + ledger.describe(id));
                }
            }
        }
        progress("publishers done");
        awaitDrained(settings.drainQuietMillis());
        finalConnections = subscribers.stream().map(PahoSubscriber::connectionNote)
                .collect(java.util.stream.Collectors.joining("; "));
        progress("drained, missing " + ledger.missing());
    }

    /** Waits until every acknowledged message reached every session that must have it, or no progress for a while. */
    private void awaitDrained(long quietMillis) throws InterruptedException {
        long lastMissing = Long.MAX_VALUE;
        long lastProgress = System.currentTimeMillis();
        while (System.currentTimeMillis() - lastProgress < quietMillis) {
            long missing = ledger.missing();
            if (missing == 0) {
                return;
            }
            if (missing < lastMissing) {
                lastMissing = missing;
                lastProgress = System.currentTimeMillis();
            }
            reconnectLostSubscribers();
            Thread.sleep(100);
        }
    }

    /**
     * A subscriber that should be online but lost its connection in the final life is connected
     * again, as a device would. Without this a loss there (seen under load: a connect attempt the
     * harness gave up on reached the broker after the live one and took the session over) left
     * the session offline with its window and queue in the store, and the ledger counted every
     * message it still had to get as lost. Each reconnect is counted in the report.
     */
    private void reconnectLostSubscribers() {
        for (PahoSubscriber s : subscribers) {
            if (s.wantOnline && !s.isConnected()) {
                try {
                    s.connect(broker.uri(), false);
                    finalReconnects++;
                    progress("final drain: " + s.connectionNote() + "; connected again");
                } catch (Exception e) {
                    progress("final drain: connecting a lost subscriber again failed (retried): " + e);
                }
            }
        }
    }

    private static long last(List<Long> values) {
        return values.get(values.size() - 1);
    }

    private boolean subscribersKeepUp() {
        return ledger.acknowledgedCount() - ledger.deliveries("s-all") < MAX_LAG;
    }

    private int totalInFlight() {
        int n = 0;
        for (PahoPublisher p : publishers) {
            n += p.inFlight();
        }
        return n;
    }

    private static boolean await(BooleanSupplier condition, long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(5);
        }
        return condition.getAsBoolean();
    }

    private void closeAll() throws InterruptedException {
        for (PahoPublisher p : publishers) {
            p.close();
        }
        for (PahoSubscriber s : subscribers) {
            s.close();
        }
        if (rawPublisher != null) {
            rawPublisher.close();
        }
        if (rawSubscriber != null) {
            rawSubscriber.disconnect();
        }
    }
}
