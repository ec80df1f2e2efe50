package io.durablemq.bench.load;

import io.durablemq.bench.report.CompareCommand;
import io.durablemq.bench.report.LoadReport;
import io.durablemq.bench.report.ReportJson;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The load generator's command line: {@code java -jar durablemq-loadgen.jar [options]} runs
 * one scenario; {@code ... compare FILES} compares saved reports.
 */
@Command(name = "durablemq-loadgen", mixinStandardHelpOptions = true, sortOptions = false,
        subcommands = CompareCommand.class,
        description = {"Drives an MQTT broker with a load scenario and reports throughput, end-to-end latency, losses and duplicates.",
                "A progress line is printed to stderr every second; the summary goes to stdout."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:run completed", "2:bad arguments", "3:messages lost (QoS 1/2) or duplicated (QoS 2)",
                "4:the run could not proceed (broker unreachable, subscription refused)"})
public final class LoadGenerator implements Callable<Integer> {

    static final int EXIT_LOSS = 3;
    static final int EXIT_FAILED = 4;

    @Option(names = {"-b", "--broker"}, defaultValue = "tcp://127.0.0.1:1883",
            description = "broker URL (default: ${DEFAULT-VALUE})")
    String broker;

    @Option(names = {"-s", "--scenario"}, defaultValue = "pairs",
            description = "pairs, fan-in, fan-out or backlog (default: ${DEFAULT-VALUE})")
    String scenario;

    @Option(names = "--mqtt", defaultValue = "5", description = "MQTT version 3 (3.1.1) or 5 (default: ${DEFAULT-VALUE})")
    int mqttVersion;

    @Option(names = {"-q", "--qos"}, defaultValue = "1", description = "QoS 0, 1 or 2 (default: ${DEFAULT-VALUE})")
    int qos;

    @Option(names = "--payload", defaultValue = "256", description = "payload bytes, at least 24 (default: ${DEFAULT-VALUE})")
    int payload;

    @Option(names = {"-P", "--publishers"},
            description = "publishing clients (default: 1; pairs: as many as subscribers)")
    Integer publishers;

    @Option(names = {"-S", "--subscribers"},
            description = "subscribing clients (default: 1; pairs: as many as publishers)")
    Integer subscribers;

    @Option(names = {"-w", "--window"}, defaultValue = "100",
            description = "unacknowledged publishes per publisher (default: ${DEFAULT-VALUE})")
    int window;

    @Option(names = "--rate", defaultValue = "0",
            description = "target total publish rate in msg/s; 0 = as fast as the window allows (default: ${DEFAULT-VALUE})")
    long rate;

    @Option(names = "--warmup", converter = DurationConverter.class,
            description = "publishing excluded from the figures (default: 2s; backlog: 0)")
    Duration warmup;

    @Option(names = {"-d", "--duration"}, defaultValue = "10s", converter = DurationConverter.class,
            description = "measured publishing time; with --count the time limit (default: ${DEFAULT-VALUE})")
    Duration duration;

    @Option(names = {"-n", "--count"},
            description = "messages per publisher, then stop (default: none; backlog: 10000)")
    Long count;

    @Option(names = "--drain-timeout", converter = DurationConverter.class,
            description = "longest wait for acks and deliveries after publishing (default: 30s; backlog: 120s)")
    Duration drainTimeout;

    @Option(names = "--idle-timeout", defaultValue = "5s", converter = DurationConverter.class,
            description = "stop waiting for deliveries after this long without one (default: ${DEFAULT-VALUE})")
    Duration idleTimeout;

    @Option(names = "--io-threads", defaultValue = "1",
            description = "network threads shared by all clients; few leave more CPU to a broker on the same machine (default: ${DEFAULT-VALUE})")
    int ioThreads;

    @Option(names = "--pacing", defaultValue = "threads",
            description = "with --rate: threads (one thread per publisher, parked until its next intended send time) or "
                    + "scheduler (one pacer thread sends every publisher's messages; starves first when the CPU is short) "
                    + "(default: ${DEFAULT-VALUE})")
    String pacing;

    @Option(names = "--phase", defaultValue = "staggered",
            description = "with --rate: staggered (the publishers send in turn, one message every 1/rate s) or aligned "
                    + "(all publishers at the same instants, a burst of one per publisher; before s21) (default: ${DEFAULT-VALUE})")
    String phase;

    @Option(names = "--spin-us", defaultValue = "0",
            description = "with --rate: spin the last microseconds of each wait instead of parking (costs CPU) (default: ${DEFAULT-VALUE})")
    long spinMicros;

    @Option(names = "--callbacks", defaultValue = "io",
            description = "where the client runs deliveries and acknowledgements: io (its network thread, no hand-off before "
                    + "the receive timestamp) or app (HiveMQ's default application scheduler; before s21) (default: ${DEFAULT-VALUE})")
    String callbacks;

    @Option(names = "--label", defaultValue = "", description = "free text stored in the report, e.g. the broker's name")
    String label;

    @Option(names = "--json", description = "write the report as JSON to this file")
    Path json;

    @Option(names = "--allow-remote", description = "allow a broker that is not on a loopback address")
    boolean allowRemote;

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        // HiveMQ's client keeps non-daemon event-loop threads alive after the run.
        System.exit(code);
    }

    public static CommandLine commandLine() {
        return new CommandLine(new LoadGenerator()).setCaseInsensitiveEnumValuesAllowed(true);
    }

    /** Resolves the options into a checked configuration (scenario-dependent defaults applied). */
    public LoadConfig toConfig() {
        BrokerUrl url = BrokerUrl.parse(broker);
        if (!url.isLoopback() && !allowRemote) {
            throw new IllegalArgumentException("broker " + url + " is not on a loopback address; add --allow-remote to drive it");
        }
        Scenario s = Scenario.parse(scenario);
        boolean backlog = s == Scenario.BACKLOG;
        int p = publishers != null ? publishers : (s == Scenario.PAIRS && subscribers != null ? subscribers : 1);
        int sub = subscribers != null ? subscribers : (s == Scenario.PAIRS ? p : 1);
        Duration w = warmup != null ? warmup : (backlog ? Duration.ZERO : Duration.ofSeconds(2));
        long n = count != null ? count : (backlog ? 10_000 : 0);
        Duration drain = drainTimeout != null ? drainTimeout : Duration.ofSeconds(backlog ? 120 : 30);
        return new LoadConfig(url, s, mqttVersion, qos, payload, p, sub, window, rate, w, duration, n, drain,
                idleTimeout, ioThreads, label, json, Pacing.parse(pacing), Phase.parse(phase),
                Math.multiplyExact(spinMicros, 1000L), CallbackThread.parse(callbacks));
    }

    @Override
    public Integer call() throws IOException, InterruptedException {
        LoadConfig config;
        try {
            config = toConfig();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(new CommandLine(this), e.getMessage(), e);
        }
        PrintStream out = System.out;
        LoadReport report;
        try {
            System.err.println("durablemq-loadgen: " + describe(config));
            report = new LoadRun(config, System.err).run();
        } catch (LoadRunException e) {
            System.err.println("durablemq-loadgen: " + e.getMessage());
            return EXIT_FAILED;
        }
        if (config.json() != null) {
            ReportJson.write(config.json(), report);
        }
        out.print(Summary.of(report));
        boolean lost = report.qos() > 0 && report.results().lost() > 0;
        boolean duplicated = report.qos() == 2 && report.results().duplicates() > 0;
        return lost || duplicated ? EXIT_LOSS : 0;
    }

    static String describe(LoadConfig c) {
        return String.format(Locale.ROOT,
                "%s at %s, MQTT %d, QoS %d, %d publishers, %d subscribers, %d B payload, window %d, rate %s, warmup %s, %s, "
                        + "callbacks on %s, %d io threads",
                c.scenario(), c.broker(), c.mqttVersion(), c.qos(), c.publishers(), c.subscribers(), c.payloadBytes(),
                c.window(), c.rate() == 0 ? "unlimited" : c.rate() + " msg/s (pacing " + c.pacing() + ", " + c.phase()
                        + (c.spinNanos() > 0 ? ", spin " + c.spinNanos() / 1000 + " us" : "") + ")", human(c.warmup()),
                c.count() > 0 ? c.count() + " msgs per publisher (limit " + human(c.duration()) + ")" : "duration " + human(c.duration()),
                c.callbacks(), c.ioThreads());
    }

    private static String human(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
    }
}
