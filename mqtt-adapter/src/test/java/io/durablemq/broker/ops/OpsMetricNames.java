package io.durablemq.broker.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the broker metric series that the ops files (Grafana dashboard, Prometheus alert
 * rules) query, and the series a Prometheus text exposition contains, so a test can prove
 * that every panel and alert reads something the broker exports.
 *
 * <p>Only names with the prefixes the broker owns are collected ({@code durablemq_},
 * {@code jvm_}, {@code process_}); {@code up} and host metrics such as
 * {@code node_filesystem_*} come from elsewhere. Names are kept exactly as queried
 * ({@code durablemq_commit_latency_seconds_bucket}, not the family), because a histogram
 * without published buckets exports {@code _count} and {@code _sum} but no {@code _bucket},
 * and a dashboard reading the buckets would then be empty.
 */
public final class OpsMetricNames {

    private static final Pattern BROKER_NAME = Pattern.compile(
            "(?<![A-Za-z0-9_:$.])((?:durablemq|jvm|process)_[A-Za-z0-9_]*[A-Za-z0-9])(?![A-Za-z0-9_:])");
    private static final Pattern NAME_MATCHER = Pattern.compile("__name__\\s*=\\s*\"([^\"]*)\"");
    private static final Pattern QUOTED = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`");
    private static final Pattern LABEL_MATCHERS = Pattern.compile("\\{[^{}]*}");
    /** Label lists after grouping and vector-matching keywords hold label names, not metrics. */
    private static final Pattern LABEL_LIST = Pattern.compile(
            "\\b(?:by|without|on|ignoring|group_left|group_right)\\s*\\([^()]*\\)");
    private static final Pattern COMMENT = Pattern.compile("#[^\\n]*");

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private OpsMetricNames() {
    }

    /** Broker metric names referenced by one PromQL expression (Grafana variables allowed). */
    public static Set<String> inPromQl(String expr) {
        Set<String> names = new TreeSet<>();
        // {__name__="x"} names a metric inside a string; a regex match (=~) names none.
        Matcher byName = NAME_MATCHER.matcher(expr);
        while (byName.find()) {
            if (BROKER_NAME.matcher(byName.group(1)).matches()) {
                names.add(byName.group(1));
            }
        }
        String code = COMMENT.matcher(QUOTED.matcher(expr).replaceAll("\"\"")).replaceAll(" ");
        code = LABEL_MATCHERS.matcher(code).replaceAll("{}");
        code = LABEL_LIST.matcher(code).replaceAll(" ");
        Matcher m = BROKER_NAME.matcher(code);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    /**
     * Names queried by a Grafana dashboard: every {@code expr} of every panel target (rows
     * nest panels, so the whole tree is walked) and the queries of templating variables.
     */
    public static Set<String> inDashboard(Path dashboardJson) throws IOException {
        JsonNode root = JSON.readTree(Files.readString(dashboardJson));
        List<String> exprs = new ArrayList<>();
        collectField(root, "expr", exprs);
        for (JsonNode variable : root.path("templating").path("list")) {
            if ("query".equals(variable.path("type").asText())) {
                JsonNode query = variable.path("query");
                exprs.add(query.isTextual() ? query.asText() : query.path("query").asText());
                exprs.add(variable.path("definition").asText());
            }
        }
        Set<String> names = new TreeSet<>();
        exprs.forEach(e -> names.addAll(inPromQl(e)));
        return names;
    }

    /**
     * Names queried by a Prometheus rules file. Series written by recording rules of the
     * same file are not the broker's and are left out.
     */
    public static Set<String> inRules(Path rulesYaml) throws IOException {
        JsonNode root = YAML.readTree(Files.readString(rulesYaml));
        Set<String> names = new TreeSet<>();
        Set<String> recorded = new TreeSet<>();
        for (JsonNode group : root.path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                names.addAll(inPromQl(rule.path("expr").asText()));
                if (rule.hasNonNull("record")) {
                    recorded.add(rule.get("record").asText());
                }
            }
        }
        names.removeAll(recorded);
        return names;
    }

    /** Series only a cluster node exports ({@code durablemq_cluster_*}): a single node has none. */
    public static boolean clusterOnly(String series) {
        return series.startsWith("durablemq_cluster_");
    }

    /** Sample names in a Prometheus text (0.0.4) or OpenMetrics exposition. */
    public static Set<String> exportedSeries(String exposition) {
        Set<String> names = new TreeSet<>();
        for (String line : exposition.split("\n")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            int end = 0;
            while (end < l.length() && l.charAt(end) != '{' && !Character.isWhitespace(l.charAt(end))) {
                end++;
            }
            names.add(l.substring(0, end));
        }
        return names;
    }

    /**
     * The used names that the exposition lacks, each with a hint when a sibling series of
     * the same family is there (e.g. a histogram exported without buckets).
     */
    public static Map<String, String> missing(Set<String> used, Set<String> exported) {
        Map<String, String> missing = new TreeMap<>();
        for (String name : used) {
            if (!exported.contains(name)) {
                missing.put(name, hint(name, exported));
            }
        }
        return missing;
    }

    /** The family a series belongs to: the name without a histogram/summary/max suffix. */
    public static String family(String series) {
        for (String suffix : List.of("_bucket", "_count", "_sum", "_max", "_created")) {
            if (series.endsWith(suffix)) {
                return series.substring(0, series.length() - suffix.length());
            }
        }
        return series;
    }

    private static String hint(String name, Set<String> exported) {
        String family = family(name);
        List<String> siblings = exported.stream().filter(e -> family(e).equals(family)).toList();
        if (siblings.isEmpty()) {
            return "not exported";
        }
        String why = name.endsWith("_bucket")
                ? " (histogram without published buckets: enable publishPercentileHistogram)"
                : "";
        return "not exported, but " + siblings + " is" + why;
    }

    /**
     * A file of the repository's ops/ folder, found from the working directory upwards
     * (Maven runs tests in the module folder; an IDE may run them at the root).
     */
    public static Path opsFile(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("ops").resolve(relative);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("ops/" + relative + " not found above " + Path.of("").toAbsolutePath());
    }

    private static void collectField(JsonNode node, String field, List<String> out) {
        if (node.isObject()) {
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                if (e.getKey().equals(field) && e.getValue().isTextual()) {
                    out.add(e.getValue().asText());
                } else {
                    collectField(e.getValue(), field, out);
                }
            }
        } else if (node.isArray()) {
            node.forEach(child -> collectField(child, field, out));
        }
    }
}
