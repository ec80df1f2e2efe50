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

    public void add(Violation v) {
        long n = counts.merge(v.kind(), 1L, Long::sum);
        if (n <= EXAMPLES_PER_KIND) {
            examples.add(v);
        }
    }

    /** Adds {@code other}'s counts and examples of the kinds {@code kinds} accepts. */
    public void addAll(Violations other, java.util.function.Predicate<Violation.Kind> kinds) {
        other.counts.forEach((k, n) -> {
            if (kinds.test(k)) {
                long before = counts.getOrDefault(k, 0L);
                counts.put(k, before + n);
                for (Violation v : other.examples) {
                    if (v.kind() == k && before++ < EXAMPLES_PER_KIND) {
                        examples.add(v);
                    }
                }
            }
        });
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
