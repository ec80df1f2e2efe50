package io.durablemq.broker.security;

/**
 * MQTT topic-filter arithmetic for access rules. Unlike Moquette's {@code Topic.match}, which
 * answers "does this topic match that filter", a subscription check needs "is every topic this
 * filter can match also matched by the rule": a rule {@code a/+} must not let a client subscribe
 * to {@code a/#}.
 */
public final class TopicFilters {

    private TopicFilters() {
    }

    /**
     * True when every topic matched by {@code filter} (a topic name is a filter matching itself)
     * is matched by {@code rule}. Wildcards in the first level of a rule do not match topics
     * starting with '$', as in MQTT matching (so {@code topic read #} does not give $SYS).
     */
    public static boolean covers(String rule, String filter) {
        String[] r = rule.split("/", -1);
        String[] f = filter.split("/", -1);
        if (f[0].startsWith("$") && (r[0].equals("+") || r[0].equals("#"))) {
            return false;
        }
        for (int i = 0; ; i++) {
            if (i == r.length) {
                return i == f.length;
            }
            if (r[i].equals("#")) {
                return true; // covers this level and everything below, including the parent itself
            }
            if (i == f.length) {
                return false;
            }
            if (f[i].equals("#")) {
                return false; // the filter reaches deeper than this rule allows
            }
            if (r[i].equals("+")) {
                continue; // one level of anything, a '+' of the filter included
            }
            if (!r[i].equals(f[i])) {
                return false; // also when the filter has '+' where the rule names one level
            }
        }
    }

    /** Checks filter syntax: '#' only as the whole last level, '+' only as a whole level. Returns the problem or null. */
    public static String invalidFilter(String filter) {
        if (filter.isEmpty()) {
            return "empty topic";
        }
        if (filter.indexOf('\0') >= 0) {
            return "NUL character in topic";
        }
        String[] levels = filter.split("/", -1);
        for (int i = 0; i < levels.length; i++) {
            String level = levels[i];
            if (level.contains("#") && (!level.equals("#") || i != levels.length - 1)) {
                return "'#' must be a whole level and the last one";
            }
            if (level.contains("+") && !level.equals("+")) {
                return "'+' must be a whole level";
            }
        }
        return null;
    }
}
