package io.durablemq.bench.load;

/**
 * Where HiveMQ's client runs the tool's callbacks (a received PUBLISH: the receive timestamp;
 * a completed publish: the acknowledgement count and window release).
 */
public enum CallbackThread implements OptionId {
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

    @Override
    public String id() {
        return id;
    }

    public static CallbackThread parse(String text) {
        return OptionId.parse(values(), text, "callback thread");
    }

    @Override
    public String toString() {
        return id;
    }
}
