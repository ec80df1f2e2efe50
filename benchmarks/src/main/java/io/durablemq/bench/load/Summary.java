package io.durablemq.bench.load;

import io.durablemq.bench.report.LoadReport;

import java.util.Locale;

/** The human-readable end-of-run summary printed to stdout. */
final class Summary {

    private Summary() {
    }

    static String of(LoadReport r) {
        LoadReport.Results x = r.results();
        LoadReport.Latency l = r.latencyMillis();
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "scenario %s%s  QoS %d  MQTT %d  %d pub / %d sub  payload %d B  window %d%n",
                r.scenario(), r.label().isEmpty() ? "" : " [" + r.label() + "]", r.qos(), r.mqttVersion(),
                r.publishers(), r.subscribers(), r.payloadBytes(), r.window()));
        b.append(String.format(Locale.ROOT, "  publishing %.1f s (stopped by %s), deliveries: %s%n",
                x.publishSeconds(), x.publishStoppedBy(), x.deliveryWait()));
        b.append(String.format(Locale.ROOT, "  sent %,.0f msg/s  acknowledged %,.0f msg/s  received %,.0f msg/s%n",
                x.sentPerSecond(), x.acknowledgedPerSecond(), x.receivedPerSecond()));
        b.append(String.format(Locale.ROOT, "  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (%,d samples)%n",
                l.p50(), l.p90(), l.p99(), l.p999(), l.max(), l.count()));
        if (r.sendPacing() != null) {
            LoadReport.Latency lag = r.sendPacing().sendLagMillis();
            b.append(String.format(Locale.ROOT,
                    "  send lag ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (pacing %s, %s; latency is clocked from the intended send time and includes it)%n",
                    lag.p50(), lag.p90(), lag.p99(), lag.p999(), lag.max(), r.sendPacing().pacing(), r.sendPacing().phase()));
        }
        if (r.backlog() != null) {
            b.append(String.format(Locale.ROOT, "  backlog %,d queued, drained in %.3f s (%,.0f msg/s)%n",
                    r.backlog().queued(), r.backlog().drainSeconds(), r.backlog().drainPerSecond()));
        }
        b.append(String.format(Locale.ROOT,
                "  sent %,d  acknowledged %,d  publish errors %,d  expected %,d  received %,d  lost %,d  duplicates %,d  unexpected %,d%n",
                x.sent(), x.acknowledged(), x.publishErrors(), x.expected(), x.received(), x.lost(), x.duplicates(), x.unexpected()));
        for (String e : r.errors()) {
            b.append("  error: ").append(e).append('\n');
        }
        return b.toString();
    }
}
