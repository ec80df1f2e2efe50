package io.durablemq.broker.protocol;

/**
 * Inbound MQTT 5 topic aliases of one connection (section 3.3.2.3.4): they live only as long
 * as the network connection, and a client may use 1..maximum.
 */
final class TopicAliases {
    private final String[] topics;

    TopicAliases(int maximum) {
        this.topics = new String[maximum + 1];
    }

    boolean isValidAlias(int alias) {
        return alias >= 1 && alias < topics.length;
    }

    void bind(int alias, String topic) {
        topics[alias] = topic;
    }

    /** The topic bound to {@code alias}, or null when the client never bound it. */
    String resolve(int alias) {
        return topics[alias];
    }
}
