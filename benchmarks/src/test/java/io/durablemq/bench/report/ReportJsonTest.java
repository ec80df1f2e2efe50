package io.durablemq.bench.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class ReportJsonTest {

    /** Latencies 1..1000 µs, one each: the percentiles are known exactly (to HdrHistogram's 3 digits). */
    static Histogram oneToThousandMicros() {
        Histogram h = new Histogram(3);
        for (long us = 1; us <= 1000; us++) {
            h.recordValue(us * 1_000);
        }
        return h;
    }

    static LoadReport report(String label, String scenario, double receivedPerSecond, double p99, long lost) {
        LoadReport.Latency base = LoadReport.Latency.of(oneToThousandMicros());
        LoadReport.Latency latency = new LoadReport.Latency(base.count(), base.p50(), base.p90(), p99, base.p999(),
                base.max(), base.mean());
        return new LoadReport(LoadReport.TOOL, label, "2025-11-25T12:00:00Z", "tcp://127.0.0.1:1883", scenario, 5, 1,
                256, 16, 16, 100, 1, 0, 2, 10, 0,
                new LoadReport.Results(10, "duration", "complete", 1_000, 1_000, 0, 1_000, 1_000 - lost, lost, 0, 0,
                        100, 100, receivedPerSecond),
                latency, null, List.of(), new LoadReport.SendPacing("scheduler", "staggered", 0, base), "io");
    }

    @Test
    void latencyPercentilesComeFromTheHistogramInMilliseconds() {
        LoadReport.Latency l = LoadReport.Latency.of(oneToThousandMicros());
        assertEquals(1000, l.count());
        assertEquals(0.5, l.p50(), 0.001);
        assertEquals(0.9, l.p90(), 0.001);
        assertEquals(0.99, l.p99(), 0.001);
        assertEquals(0.999, l.p999(), 0.001);
        assertEquals(1.0, l.max(), 0.001);
        assertEquals(0.5005, l.mean(), 0.001);
        assertEquals(0, LoadReport.Latency.of(new Histogram(3)).count());
    }

    @Test
    void reportRoundTripsThroughJsonWithDocumentedFieldNames(@TempDir Path dir) throws Exception {
        LoadReport original = report("durablemq-fsync", "pairs", 12_345.5, 4.25, 0);
        Path file = dir.resolve("sub/run.json");
        ReportJson.write(file, original);
        assertEquals(original, ReportJson.read(file));

        JsonNode tree = new ObjectMapper().readTree(file.toFile());
        assertEquals("durablemq-loadgen", tree.path("tool").asText());
        assertEquals(12_345.5, tree.path("results").path("receivedPerSecond").asDouble());
        assertEquals(4.25, tree.path("latencyMillis").path("p99").asDouble());
        assertEquals(0.999, tree.path("latencyMillis").path("p999").asDouble(), 0.001);
        assertNull(ReportJson.fromJson(ReportJson.toJson(original)).backlog());
    }

    @Test
    void unknownFieldsFromNewerReportsAreIgnored() {
        String json = ReportJson.toJson(report("mosquitto", "fan-in", 1, 1, 0)).replaceFirst("\\{", "{\"future\": 1,");
        assertEquals("mosquitto", ReportJson.fromJson(json).label());
    }
}
