package io.durablemq.broker.chaos;

/** MQTT topic filter matching (the harness's own, independent of the broker's). */
final class TopicFilter {
    private TopicFilter() {
    }

    /** {@code $share/group/f} matches what {@code f} matches. */
    static boolean matches(String filter, String topic) {
        if (filter.startsWith("$share/")) {
            filter = filter.substring(filter.indexOf('/', "$share/".length()) + 1);
        }
        String[] f = filter.split("/", -1);
        String[] t = topic.split("/", -1);
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
}
