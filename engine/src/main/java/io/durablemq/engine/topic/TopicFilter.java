package io.durablemq.engine.topic;

import java.nio.charset.StandardCharsets;

/** MQTT topic-name and topic-filter rules (MQTT 3.1.1 section 4.7, MQTT 5 section 4.7 and 4.8.2). */
public final class TopicFilter {
    public static final String SHARE_PREFIX = "$share/";

    private TopicFilter() {
    }

    /** A topic a PUBLISH may carry: non-empty, no wildcards, no NUL, at most 65535 UTF-8 bytes. */
    public static boolean isValidTopicName(String topic) {
        if (topic == null || topic.isEmpty() || utf8Length(topic) > 65_535) {
            return false;
        }
        for (int i = 0; i < topic.length(); i++) {
            char c = topic.charAt(i);
            if (c == '+' || c == '#' || c == 0) {
                return false;
            }
        }
        return true;
    }

    /** A filter a SUBSCRIBE may carry, including the {@code $share/group/filter} form. */
    public static boolean isValidFilter(String filter) {
        if (filter == null || filter.isEmpty() || utf8Length(filter) > 65_535) {
            return false;
        }
        if (filter.startsWith(SHARE_PREFIX)) {
            try {
                SharedFilter s = parseShared(filter);
                return isValidPlainFilter(s.filter());
            } catch (IllegalArgumentException e) {
                return false;
            }
        }
        return isValidPlainFilter(filter);
    }

    private static boolean isValidPlainFilter(String filter) {
        if (filter.isEmpty()) {
            return false;
        }
        String[] levels = filter.split("/", -1);
        for (int i = 0; i < levels.length; i++) {
            String level = levels[i];
            if (level.indexOf('\0') >= 0) {
                return false;
            }
            if (level.contains("#") && (!level.equals("#") || i != levels.length - 1)) {
                return false;
            }
            if (level.contains("+") && !level.equals("+")) {
                return false;
            }
        }
        return true;
    }

    public static boolean isShared(String filter) {
        return filter.startsWith(SHARE_PREFIX);
    }

    /** @return the group and filter of a shared subscription, or null for an ordinary filter */
    public static SharedFilter parseShared(String filter) {
        if (!filter.startsWith(SHARE_PREFIX)) {
            return null;
        }
        int slash = filter.indexOf('/', SHARE_PREFIX.length());
        if (slash < 0) {
            throw new IllegalArgumentException("shared subscription without a filter: " + filter);
        }
        String group = filter.substring(SHARE_PREFIX.length(), slash);
        if (group.isEmpty() || group.contains("+") || group.contains("#")) {
            throw new IllegalArgumentException("invalid share name in " + filter);
        }
        return new SharedFilter(group, filter.substring(slash + 1));
    }

    /** Whether {@code topic} matches the plain (non-shared) {@code filter}. */
    public static boolean matches(String filter, String topic) {
        String[] f = filter.split("/", -1);
        String[] t = topic.split("/", -1);
        if (topic.startsWith("$") && (f[0].equals("+") || f[0].equals("#"))) {
            return false;
        }
        for (int i = 0; i < f.length; i++) {
            if (f[i].equals("#")) {
                return true;
            }
            if (i >= t.length) {
                return false;
            }
            if (!f[i].equals("+") && !f[i].equals(t[i])) {
                return false;
            }
        }
        return f.length == t.length;
    }

    /** Number of levels of a topic or filter. */
    public static int levels(String topicOrFilter) {
        int n = 1;
        for (int i = 0; i < topicOrFilter.length(); i++) {
            if (topicOrFilter.charAt(i) == '/') {
                n++;
            }
        }
        return n;
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }
}
