package io.durablemq.bench.load;

/** How the publishers' intended send times relate to each other under {@code --rate}. */
public enum Phase implements OptionId {
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

    @Override
    public String id() {
        return id;
    }

    public static Phase parse(String text) {
        return OptionId.parse(values(), text, "phase");
    }

    @Override
    public String toString() {
        return id;
    }
}
