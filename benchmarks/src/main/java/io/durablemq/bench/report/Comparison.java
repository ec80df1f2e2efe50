package io.durablemq.bench.report;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Load reports grouped by scenario (same shape, QoS, payload, rate) and by label (the broker
 * and its mode), with the median of repeated rounds and ratios against a baseline label.
 */
public final class Comparison {

    /** One scenario as run against one label: medians over its rounds. */
    public record Cell(String label, int runs, double throughput, double p50, double p99, double max,
                       long lost, long duplicates, long errors) {
    }

    /** One scenario: its cells in label order. */
    public record Row(String scenario, Map<String, Cell> cells) {
        public Optional<Cell> cell(String label) {
            return Optional.ofNullable(cells.get(label));
        }
    }

    private final List<String> labels;
    private final List<Row> rows;
    private final String baseline;

    private Comparison(List<String> labels, List<Row> rows, String baseline) {
        this.labels = labels;
        this.rows = rows;
        this.baseline = baseline;
    }

    public static Comparison of(List<LoadReport> reports, String baseline) {
        Set<String> labels = new LinkedHashSet<>();
        Map<String, Map<String, List<LoadReport>>> byScenario = new LinkedHashMap<>();
        for (LoadReport r : reports) {
            String label = r.label().isEmpty() ? r.broker() : r.label();
            labels.add(label);
            byScenario.computeIfAbsent(scenarioName(r), k -> new LinkedHashMap<>())
                    .computeIfAbsent(label, k -> new ArrayList<>()).add(r);
        }
        List<Row> rows = new ArrayList<>();
        byScenario.forEach((scenario, byLabel) -> {
            Map<String, Cell> cells = new LinkedHashMap<>();
            for (String label : labels) {
                List<LoadReport> runs = byLabel.get(label);
                if (runs != null) {
                    cells.put(label, cell(label, runs));
                }
            }
            rows.add(new Row(scenario, cells));
        });
        return new Comparison(List.copyOf(labels), rows, baseline);
    }

    /** A short name that tells runs of different shapes apart, e.g. "pairs qos1 16x16 256B". */
    public static String scenarioName(LoadReport r) {
        StringBuilder b = new StringBuilder(r.scenario()).append(" qos").append(r.qos())
                .append(' ').append(r.publishers()).append('x').append(r.subscribers())
                .append(' ').append(r.payloadBytes()).append('B');
        if (r.rateLimit() > 0) {
            b.append(" @").append(r.rateLimit()).append("/s");
        }
        if (r.mqttVersion() != 5) {
            b.append(" v").append(r.mqttVersion());
        }
        return b.toString();
    }

    private static Cell cell(String label, List<LoadReport> runs) {
        double[] throughput = runs.stream().mapToDouble(r -> r.results().receivedPerSecond()).toArray();
        double[] p50 = runs.stream().mapToDouble(r -> r.latencyMillis().p50()).toArray();
        double[] p99 = runs.stream().mapToDouble(r -> r.latencyMillis().p99()).toArray();
        double max = runs.stream().mapToDouble(r -> r.latencyMillis().max()).max().orElse(0);
        long lost = runs.stream().mapToLong(r -> r.results().lost()).sum();
        long duplicates = runs.stream().mapToLong(r -> r.results().duplicates()).sum();
        long errors = runs.stream().mapToLong(r -> r.results().publishErrors()).sum();
        return new Cell(label, runs.size(), median(throughput), median(p50), median(p99), max, lost, duplicates, errors);
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        if (n == 0) {
            return 0;
        }
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    public List<String> labels() {
        return labels;
    }

    public List<Row> rows() {
        return rows;
    }

    public String baseline() {
        return baseline;
    }

    /** Throughput of {@code label} divided by the baseline's in the same scenario, if both ran. */
    public Optional<Double> throughputRatio(Row row, String label) {
        return ratio(row, label, Cell::throughput);
    }

    /** p99 latency of {@code label} divided by the baseline's (lower is better). */
    public Optional<Double> p99Ratio(Row row, String label) {
        return ratio(row, label, Cell::p99);
    }

    private Optional<Double> ratio(Row row, String label, java.util.function.ToDoubleFunction<Cell> metric) {
        Optional<Cell> mine = row.cell(label);
        Optional<Cell> base = row.cell(baseline);
        if (mine.isEmpty() || base.isEmpty() || metric.applyAsDouble(base.get()) <= 0) {
            return Optional.empty();
        }
        return Optional.of(metric.applyAsDouble(mine.get()) / metric.applyAsDouble(base.get()));
    }

    /** A Markdown table: one line per scenario and label. */
    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("| scenario | broker | runs | received msg/s | p50 ms | p99 ms | max ms | lost | dup | errors | throughput vs ")
                .append(baseline).append(" | p99 vs ").append(baseline).append(" |\n");
        b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row row : rows) {
            for (Cell c : row.cells().values()) {
                b.append(String.format(Locale.ROOT, "| %s | %s | %d | %,.0f | %.2f | %.2f | %.1f | %d | %d | %d | %s | %s |%n",
                        row.scenario(), c.label(), c.runs(), c.throughput(), c.p50(), c.p99(), c.max(), c.lost(),
                        c.duplicates(), c.errors(),
                        throughputRatio(row, c.label()).map(r -> String.format(Locale.ROOT, "%.2fx", r)).orElse("-"),
                        p99Ratio(row, c.label()).map(r -> String.format(Locale.ROOT, "%.2fx", r)).orElse("-")));
            }
        }
        return b.toString();
    }
}
