package io.durablemq.broker.protocol;

/** Syntax rules for topic names (PUBLISH) and topic filters (SUBSCRIBE), MQTT 3.1.1/5.0 section 4.7. */
public final class TopicNames {
    public static final String SHARE_PREFIX = "$share/";

    private TopicNames() {
    }

    /** A name a client may publish to: not empty, no wildcards, no NUL. */
    public static boolean isValidTopicName(String topic) {
        if (topic == null || topic.isEmpty()) {
            return false;
        }
        for (int i = 0; i < topic.length(); i++) {
            char c = topic.charAt(i);
            if (c == '+' || c == '#' || c == '\u0000') {
                return false;
            }
        }
        return true;
    }

    public static boolean isShared(String filter) {
        return filter.startsWith(SHARE_PREFIX);
    }

    /**
     * A filter a client may subscribe to: wildcards only as whole levels, {@code #} last; a
     * shared subscription is {@code $share/<group>/<filter>} with a group without wildcards or '/'.
     */
    public static boolean isValidFilter(String filter) {
        if (filter == null || filter.isEmpty()) {
            return false;
        }
        if (isShared(filter)) {
            int slash = filter.indexOf('/', SHARE_PREFIX.length());
            if (slash <= SHARE_PREFIX.length()) {
                return false;
            }
            String group = filter.substring(SHARE_PREFIX.length(), slash);
            if (group.indexOf('+') >= 0 || group.indexOf('#') >= 0) {
                return false;
            }
            return isValidPlainFilter(filter.substring(slash + 1));
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
            if (level.indexOf('\u0000') >= 0) {
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
}
