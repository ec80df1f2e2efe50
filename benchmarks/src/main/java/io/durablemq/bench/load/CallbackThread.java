package io.durablemq.bench.load;

import java.util.Locale;

/**
 * Where HiveMQ's client runs the tool's callbacks (a received PUBLISH: the receive timestamp;
 * a completed publish: the acknowledgement count and window release).
 */
public enum CallbackThread {
    /** On the client's Netty I/O thread that read the packet: no hand-off before the timestamp. */
    IO("io"),
    /**
     * On the client's default application scheduler (RxJava's computation pool, one thread per
     * core): every delivery and acknowledgement waits for a hand-off (the tool before s21).
     */
    APP("app");

    private final String id;

    CallbackThread(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    public static CallbackThread parse(String text) {
        for (CallbackThread c : values()) {
            if (c.id.equals(text.trim().toLowerCase(Locale.ROOT))) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown callback thread '" + text + "': use io or app");
    }

    @Override
    public String toString() {
        return id;
    }
}
