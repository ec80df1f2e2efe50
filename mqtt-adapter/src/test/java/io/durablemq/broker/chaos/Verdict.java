package io.durablemq.broker.chaos;

import java.util.List;
import java.util.LongSummaryStatistics;
import java.util.Map;

/** The figures a chaos run ends with; {@link #toString()} is the printed report. */
record Verdict(String name, int kills, int restarts, long elapsedMillis, long sent, long acknowledged,
               long acknowledgedQos1, long acknowledgedQos2, long deliveries, long lost, long qos2Duplicates,
               long qos1Duplicates, long orderViolations, long anomalies, List<Long> recoveryMillis,
               List<String> killPoints, Map<String, Long> deliveriesPerSession, List<String> lostSamples,
               List<String> duplicateSamples, List<String> orderSamples, List<String> anomalySamples) {

    @Override
    public String toString() {
        LongSummaryStatistics r = recoveryMillis.stream().skip(1).mapToLong(Long::longValue).summaryStatistics();
        StringBuilder b = new StringBuilder();
        b.append("==== chaos verdict: ").append(name).append(" ====\n");
        b.append(String.format("kills %d (SIGKILL, exit 137), restarts %d, elapsed %.1f s%n", kills, restarts,
                elapsedMillis / 1000.0));
        b.append(String.format("messages: sent %d, acknowledged %d (QoS 1 %d, QoS 2 %d), deliveries %d%n", sent,
                acknowledged, acknowledgedQos1, acknowledgedQos2, deliveries));
        b.append(String.format("LOST %d | QoS 2 DUPLICATED %d | QoS 1 duplicates %d (allowed) | ORDER violations %d"
                + " | anomalies %d%n", lost, qos2Duplicates, qos1Duplicates, orderViolations, anomalies));
        b.append(String.format("recovery per restart: min %d ms, avg %.0f ms, max %d ms; all starts %s%n",
                r.getCount() == 0 ? 0 : r.getMin(), r.getAverage(), r.getCount() == 0 ? 0 : r.getMax(), recoveryMillis));
        b.append("kill points: ").append(killPoints).append('\n');
        deliveriesPerSession.forEach((k, v) -> b.append("  ").append(k).append(": ").append(v).append(" deliveries\n"));
        section(b, "lost", lostSamples);
        section(b, "QoS 2 duplicates", duplicateSamples);
        section(b, "order violations", orderSamples);
        section(b, "anomalies", anomalySamples);
        return b.toString();
    }

    private static void section(StringBuilder b, String title, List<String> samples) {
        if (!samples.isEmpty()) {
            b.append(title).append(" (first ").append(samples.size()).append("):\n");
            samples.forEach(s -> b.append("  ").append(s).append('\n'));
        }
    }

    boolean clean() {
        return lost == 0 && qos2Duplicates == 0 && orderViolations == 0 && anomalies == 0;
    }
}
