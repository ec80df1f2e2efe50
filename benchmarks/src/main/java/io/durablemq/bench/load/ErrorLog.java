package io.durablemq.bench.load;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Distinct error messages with their counts, the first few kept for the report. */
final class ErrorLog {

    private static final int KEPT = 20;

    private final Map<String, Long> counts = new LinkedHashMap<>();

    synchronized void add(String where, Throwable error) {
        String key = where + ": " + describe(error);
        if (counts.containsKey(key) || counts.size() < KEPT) {
            counts.merge(key, 1L, Long::sum);
        }
    }

    synchronized List<String> summary() {
        List<String> lines = new ArrayList<>();
        counts.forEach((message, n) -> lines.add(n == 1 ? message : message + " (x" + n + ")"));
        return lines;
    }

    static String describe(Throwable error) {
        Throwable t = error;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        String message = t.getMessage();
        return t.getClass().getSimpleName() + (message == null ? "" : " " + message);
    }
}
