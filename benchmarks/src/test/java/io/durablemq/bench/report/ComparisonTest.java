package io.durablemq.bench.report;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static io.durablemq.bench.report.ReportJsonTest.report;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ComparisonTest {

    private final Comparison comparison = Comparison.of(List.of(
            report("mosquitto", "pairs", 10_000, 2.0, 0),
            report("durablemq-fsync", "pairs", 9_000, 5.0, 0),
            report("mosquitto", "pairs", 30_000, 4.0, 0),
            report("durablemq-fsync", "pairs", 12_000, 3.0, 1),
            report("mosquitto", "pairs", 20_000, 3.0, 0),
            report("durablemq-fsync", "fan-in", 5_000, 1.0, 0)), "mosquitto");

    @Test
    void repeatedRoundsAreSummarisedByTheirMedian() {
        Comparison.Row pairs = comparison.rows().get(0);
        assertEquals("pairs qos1 16x16 256B", pairs.scenario());
        Comparison.Cell mosquitto = pairs.cell("mosquitto").orElseThrow();
        assertEquals(3, mosquitto.runs());
        assertEquals(20_000, mosquitto.throughput());
        assertEquals(3.0, mosquitto.p99());
        Comparison.Cell durable = pairs.cell("durablemq-fsync").orElseThrow();
        assertEquals(10_500, durable.throughput()); // median of two runs: their mean
        assertEquals(1, durable.lost());
        assertEquals(List.of("mosquitto", "durablemq-fsync"), comparison.labels());
    }

    @Test
    void ratiosDivideByTheBaselineOfTheSameScenario() {
        Comparison.Row pairs = comparison.rows().get(0);
        assertEquals(0.525, comparison.throughputRatio(pairs, "durablemq-fsync").orElseThrow(), 1e-9);
        assertEquals(4.0 / 3.0, comparison.p99Ratio(pairs, "durablemq-fsync").orElseThrow(), 1e-9);
        Comparison.Row fanIn = comparison.rows().get(1);
        assertTrue(comparison.throughputRatio(fanIn, "durablemq-fsync").isEmpty(), "no baseline run, no ratio");
        String table = comparison.markdown();
        assertTrue(table.contains("| pairs qos1 16x16 256B | durablemq-fsync | 2 | 10,500 |"), table);
        assertTrue(table.contains("| 0.53x | 1.33x |"), table);
    }

    @Test
    void chartIsWellFormedSvgWithABarPerScenarioAndLabel() throws Exception {
        String svg = SvgChart.render(comparison, "A & B <test>");
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
        assertEquals("svg", doc.getDocumentElement().getNodeName());
        // 3 cells x 2 panels, plus the background and 2 legend swatches.
        assertEquals(3 * 2 + 1 + 2, doc.getElementsByTagName("rect").getLength());
        assertTrue(svg.contains("A &amp; B &lt;test&gt;"));
    }
}
