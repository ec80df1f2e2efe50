package io.durablemq.bench.load;

import java.util.Locale;

/** How the publishers' intended send times relate to each other under {@code --rate}. */
public enum Phase {
    /**
     * Publisher p's messages are offset by p / publishers of its interval, so the whole run sends
     * one message every {@code 1 / rate} seconds: the even arrivals a fixed rate means.
     */
    STAGGERED("staggered"),
    /**
     * Every publisher sends at the same instants: a burst of one message per publisher every
     * {@code publishers / rate} seconds (the tool before s21).
     */
    ALIGNED("aligned");

    private final String id;

    Phase(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    public static Phase parse(String text) {
        for (Phase p : values()) {
            if (p.id.equals(text.trim().toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown phase '" + text + "': use staggered or aligned");
    }

    @Override
    public String toString() {
        return id;
    }
}
