package io.durablemq.bench.report;

import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * A two-panel horizontal bar chart of a {@link Comparison}: received throughput and p99 latency
 * per scenario, one bar per label. Plain SVG, no scripts, readable on GitHub.
 */
public final class SvgChart {

    private static final String[] COLOURS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
    private static final int LABEL_WIDTH = 230;
    private static final int PANEL_WIDTH = 330;
    private static final int PANEL_GAP = 90;
    private static final int BAR_HEIGHT = 13;
    private static final int GROUP_GAP = 12;
    private static final int TOP = 56;

    private SvgChart() {
    }

    public static String render(Comparison comparison, String title) {
        List<String> labels = comparison.labels();
        List<Comparison.Row> rows = comparison.rows();
        int groupHeight = labels.size() * BAR_HEIGHT + GROUP_GAP;
        int width = LABEL_WIDTH + 2 * PANEL_WIDTH + PANEL_GAP + 80;
        int height = TOP + rows.size() * groupHeight + 50;
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">%n",
                width, height));
        b.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", width, height));
        b.append(text(10, 20, escape(title), "font-size=\"14\" font-weight=\"bold\""));
        int left = LABEL_WIDTH;
        int right = LABEL_WIDTH + PANEL_WIDTH + PANEL_GAP;
        b.append(text(left, TOP - 12, "received messages/s (higher is better)", "font-weight=\"bold\""));
        b.append(text(right, TOP - 12, "p99 end-to-end latency, ms (lower is better)", "font-weight=\"bold\""));
        panel(b, comparison, left, Comparison.Cell::throughput, "%,.0f");
        panel(b, comparison, right, Comparison.Cell::p99, "%.2f");
        for (int r = 0; r < rows.size(); r++) {
            int y = TOP + r * groupHeight + (labels.size() * BAR_HEIGHT) / 2 + 4;
            b.append(text(LABEL_WIDTH - 8, y, escape(rows.get(r).scenario()), "text-anchor=\"end\""));
        }
        int legendY = TOP + rows.size() * groupHeight + 20;
        for (int i = 0; i < labels.size(); i++) {
            int x = LABEL_WIDTH + i * 170;
            b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>%n",
                    x, legendY - 10, COLOURS[i % COLOURS.length]));
            b.append(text(x + 16, legendY, escape(labels.get(i)), ""));
        }
        b.append("</svg>\n");
        return b.toString();
    }

    private static void panel(StringBuilder b, Comparison comparison, int x0, ToDoubleFunction<Comparison.Cell> metric,
                              String format) {
        List<String> labels = comparison.labels();
        double max = comparison.rows().stream().flatMap(r -> r.cells().values().stream())
                .mapToDouble(metric).max().orElse(0);
        int groupHeight = labels.size() * BAR_HEIGHT + GROUP_GAP;
        int bottom = TOP + comparison.rows().size() * groupHeight;
        b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>%n",
                x0, TOP - 4, x0, bottom));
        for (int r = 0; r < comparison.rows().size(); r++) {
            Comparison.Row row = comparison.rows().get(r);
            for (int i = 0; i < labels.size(); i++) {
                Comparison.Cell cell = row.cells().get(labels.get(i));
                if (cell == null) {
                    continue;
                }
                double value = metric.applyAsDouble(cell);
                int w = max <= 0 ? 0 : (int) Math.round(PANEL_WIDTH * value / max);
                int y = TOP + r * groupHeight + i * BAR_HEIGHT;
                b.append(String.format(Locale.ROOT,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%s %s: %s</title></rect>%n",
                        x0, y, Math.max(w, 1), BAR_HEIGHT - 2, COLOURS[i % COLOURS.length], escape(row.scenario()),
                        escape(cell.label()), String.format(Locale.ROOT, format, value)));
                b.append(text(x0 + Math.max(w, 1) + 4, y + BAR_HEIGHT - 3,
                        String.format(Locale.ROOT, format, value), "font-size=\"10\""));
            }
        }
    }

    private static String text(int x, int y, String content, String attributes) {
        return String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" %s>%s</text>%n", x, y, attributes, content);
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
