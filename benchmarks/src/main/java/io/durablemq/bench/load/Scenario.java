package io.durablemq.bench.load;

import java.util.Locale;

/**
 * Who publishes to whom. Publisher {@code p} always publishes to its own topic
 * {@code prefix/p<p>}; the scenario decides what each subscriber subscribes to and therefore
 * which publishers' messages it must receive.
 */
public enum Scenario {
    /** N independent publisher/subscriber pairs: publisher i to subscriber i. */
    PAIRS("pairs"),
    /** N publishers, one subscriber on a wildcard filter. */
    FAN_IN("fan-in"),
    /** One publisher, N subscribers of its topic. */
    FAN_OUT("fan-out"),
    /**
     * Persistent subscribers (on a wildcard filter) go offline, the publishers publish a fixed
     * count, then the subscribers reconnect and the drain is timed.
     */
    BACKLOG("backlog");

    private final String id;

    Scenario(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    public static Scenario parse(String text) {
        String key = text.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        for (Scenario s : values()) {
            if (s.id.equals(key) || s.id.replace("-", "").equals(key)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown scenario '" + text + "': use pairs, fan-in, fan-out or backlog");
    }

    public String publisherTopic(String prefix, int publisher) {
        return prefix + "/p" + publisher;
    }

    public String subscriberFilter(String prefix, int subscriber) {
        return switch (this) {
            case PAIRS -> prefix + "/p" + subscriber;
            case FAN_OUT -> prefix + "/p0";
            case FAN_IN, BACKLOG -> prefix + "/+";
        };
    }

    /** True when the subscriber's filter matches the publisher's topic. */
    public boolean routes(int publisher, int subscriber) {
        return this != PAIRS || publisher == subscriber;
    }

    public boolean subscribersOfflineWhilePublishing() {
        return this == BACKLOG;
    }

    /** Rejects publisher/subscriber counts the scenario does not define. */
    void checkShape(int publishers, int subscribers) {
        switch (this) {
            case PAIRS -> require(publishers == subscribers,
                    "pairs needs as many subscribers as publishers (got " + publishers + " and " + subscribers + ")");
            case FAN_IN -> require(subscribers == 1, "fan-in has exactly one subscriber (got " + subscribers + ")");
            case FAN_OUT -> require(publishers == 1, "fan-out has exactly one publisher (got " + publishers + ")");
            case BACKLOG -> { }
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    @Override
    public String toString() {
        return id;
    }
}
