package io.durablemq.bench.report;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code durablemq-loadgen compare FILES}: a table of medians and ratios, and an SVG chart. */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Compares load reports (JSON) by scenario and label: medians of repeated runs, ratios against a baseline.")
public final class CompareCommand implements Callable<Integer> {

    @Parameters(arity = "1..*", paramLabel = "REPORT", description = "JSON reports written with --json (folders: all *.json inside)")
    List<Path> inputs;

    @Option(names = "--baseline", defaultValue = "mosquitto", description = "label the ratios divide by (default: ${DEFAULT-VALUE})")
    String baseline;

    @Option(names = "--markdown", description = "also write the table to this file")
    Path markdown;

    @Option(names = "--svg", description = "write a chart of throughput and p99 per scenario to this file")
    Path svg;

    @Option(names = "--title", defaultValue = "DurableMQ load comparison", description = "chart title")
    String title;

    @Override
    public Integer call() throws IOException {
        List<LoadReport> reports = new ArrayList<>();
        for (Path input : inputs) {
            if (Files.isDirectory(input)) {
                try (var files = Files.list(input)) {
                    for (Path f : files.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                        reports.add(ReportJson.read(f));
                    }
                }
            } else {
                reports.add(ReportJson.read(input));
            }
        }
        // Rows and labels appear in the order the runs were made.
        reports.sort(java.util.Comparator.comparing(r -> java.time.Instant.parse(r.startedAt())));
        Comparison comparison = Comparison.of(reports, baseline);
        String table = comparison.markdown();
        System.out.print(table);
        if (markdown != null) {
            Files.writeString(markdown, table);
        }
        if (svg != null) {
            Files.writeString(svg, SvgChart.render(comparison, title));
        }
        return 0;
    }
}
