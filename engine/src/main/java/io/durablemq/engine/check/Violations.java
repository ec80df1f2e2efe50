package io.durablemq.engine.check;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** Counts of broken invariants per kind, with the first few of each kept as examples. */
public final class Violations {
    static final int EXAMPLES_PER_KIND = 20;

    private final Map<Violation.Kind, Long> counts = new EnumMap<>(Violation.Kind.class);
    private final List<Violation> examples = new ArrayList<>();

    void add(Violation v) {
        long n = counts.merge(v.kind(), 1L, Long::sum);
        if (n <= EXAMPLES_PER_KIND) {
            examples.add(v);
        }
    }

    public long total() {
        return counts.values().stream().mapToLong(Long::longValue).sum();
    }

    public boolean isEmpty() {
        return counts.isEmpty();
    }

    public Map<Violation.Kind, Long> counts() {
        return Collections.unmodifiableMap(counts);
    }

    public List<Violation> examples() {
        return Collections.unmodifiableList(examples);
    }

    /** "3 message bodies no entry references, 1 records that do not decode". */
    public String summary() {
        List<String> parts = new ArrayList<>();
        counts.forEach((k, n) -> parts.add(n + " " + k.label()));
        return String.join(", ", parts);
    }
}
